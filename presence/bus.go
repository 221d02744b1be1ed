package presence

import (
	"errors"

	"github.com/daemoneye/eventbus/broker"
)

// Bus is what the service needs from the event bus: subscribing and
// publishing, as the broker's in-process API offers them.
type Bus interface {
	// Subscribe calls h for every event matching filter until cancel is
	// called. h may run on any goroutine, but not concurrently with
	// itself; it must not block.
	Subscribe(filter string, h func(*Event)) (cancel func(), err error)
	// Publish publishes payload on topic.
	Publish(topic string, payload []byte) error
}

// Event is one delivered event.
type Event struct {
	Topic string
	// Payload is shared with other receivers: read it, do not keep it.
	Payload []byte
	// Publisher is who published the event, as the broker names it. The
	// zero Publisher means the bus does not know.
	Publisher Publisher
	// Respond answers a request. It is nil when the event is not a
	// request.
	Respond func(payload []byte) error
}

// Publisher is the session that published an event.
type Publisher struct {
	Name      string
	Instance  string
	SessionID uint64
}

// ErrNotAnswered is returned by an Event's Respond when the request was
// answered already or has expired.
var ErrNotAnswered = errors.New("presence: the request is answered or expired")

// OnBroker returns a Bus on the broker's in-process session, which the
// broker trusts with every topic.
func OnBroker(b *broker.Broker) Bus { return brokerBus{b} }

type brokerBus struct{ b *broker.Broker }

func (bb brokerBus) Subscribe(filter string, h func(*Event)) (func(), error) {
	sub, err := bb.b.Subscribe(filter, func(m *broker.Message) {
		ev := &Event{
			Topic:   m.Topic,
			Payload: m.Payload,
			Publisher: Publisher{
				Name:      m.Publisher.ClientName,
				Instance:  m.Publisher.InstanceID,
				SessionID: m.Publisher.SessionID,
			},
		}
		if m.IsRequest() {
			ev.Respond = func(payload []byte) error {
				if !m.Respond(payload, m.Correlation) {
					return ErrNotAnswered
				}
				return nil
			}
		}
		h(ev)
	})
	if err != nil {
		return nil, err
	}
	return sub.Unsubscribe, nil
}

func (bb brokerBus) Publish(topic string, payload []byte) error {
	_, err := bb.b.Publish(topic, payload, nil)
	return err
}
