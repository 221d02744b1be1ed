package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/topic"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// Message is an event delivered to an in-process subscriber.
type Message struct {
	Topic string
	// Payload is shared with every other in-process receiver of the event:
	// read it, do not modify it.
	Payload     []byte
	Time        time.Time
	Publisher   Publisher
	Correlation *pb.Correlation
	// SubscriptionID is the subscription the handler belongs to.
	SubscriptionID uint32
	// Dropped counts events this in-process session lost to a full queue
	// just before this one.
	Dropped uint64

	replyTo string  // the reply token when the message is a request
	b       *Broker // for Respond
}

// Publisher identifies who published a Message.
type Publisher struct {
	ClientName string
	InstanceID string
	SessionID  uint64
}

// Handler receives in-process deliveries. All handlers of a broker run on one
// goroutine, in delivery order, so a handler must not block for long; events
// that arrive while the queue is full are dropped and counted.
type Handler func(*Message)

// LocalSubscription is an in-process subscription.
type LocalSubscription struct {
	sub     *subscription
	handler Handler
	ls      *localSession
}

// Filter returns the subscription's filter.
func (ls *LocalSubscription) Filter() string { return ls.sub.filter.String() }

// Unsubscribe stops deliveries to the subscription. Safe to call twice.
func (ls *LocalSubscription) Unsubscribe() {
	l := ls.ls
	l.mu.Lock()
	_, ok := l.subs[ls.sub.id]
	delete(l.subs, ls.sub.id)
	l.mu.Unlock()
	if ok {
		l.b.index.Remove(ls.sub.filter, ls.sub)
	}
}

// Publish routes an event from the hosting program, as if a client named
// Config.LocalName had published it, and returns how many receivers it was
// queued for. The payload is copied. corr may be nil.
func (b *Broker) Publish(name string, payload []byte, corr *pb.Correlation) (int, error) {
	if err := topic.ValidateName(name); err != nil {
		return 0, err
	}
	l, err := b.localSession()
	if err != nil {
		return 0, err
	}
	// Routing copies the payload into the event before it returns.
	return b.publish(outgoing{topic: name, payload: payload, correlation: corr, from: l.publisher, fromRaw: l.publisherRaw})
}

// Subscribe subscribes the hosting program to filter. handler runs on the
// broker's in-process dispatch goroutine.
func (b *Broker) Subscribe(filter string, handler Handler) (*LocalSubscription, error) {
	return b.subscribeLocal(filter, "", handler)
}

// SubscribeGroup is Subscribe as a member of queue group: each matching
// event goes to one member of the group, in process or over a socket.
func (b *Broker) SubscribeGroup(filter, group string, handler Handler) (*LocalSubscription, error) {
	if group == "" {
		return nil, fmt.Errorf("broker: empty queue group name")
	}
	if err := validateGroup(group); err != nil {
		return nil, err
	}
	return b.subscribeLocal(filter, group, handler)
}

func (b *Broker) subscribeLocal(filter, group string, handler Handler) (*LocalSubscription, error) {
	f, err := topic.ParseFilter(filter)
	if err != nil {
		return nil, err
	}
	l, err := b.localSession()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if len(l.subs) >= b.cfg.MaxSubscriptions {
		l.mu.Unlock()
		return nil, fmt.Errorf("broker: at most %d in-process subscriptions", b.cfg.MaxSubscriptions)
	}
	l.nextID++
	ls := &LocalSubscription{sub: &subscription{id: l.nextID, filter: f, group: group, rcv: l}, handler: handler, ls: l}
	l.subs[ls.sub.id] = ls
	l.mu.Unlock()
	b.index.Insert(f, ls.sub)
	return ls, nil
}

// ErrNoResponders is returned by Request when nothing subscribes to the
// topic; errors.As gives the broker's *RequestError.
var ErrNoResponders = errors.New("broker: no responders")

// RequestError is a request that ended without a reply.
type RequestError struct {
	Code    pb.ErrorCode
	Message string
}

func (e *RequestError) Error() string { return e.Message }

// Is makes a NO_RESPONDERS RequestError match ErrNoResponders.
func (e *RequestError) Is(target error) bool {
	return target == ErrNoResponders && e.Code == pb.ErrorCode_ERROR_CODE_NO_RESPONDERS
}

// Request publishes a request from the hosting program and waits for the
// first reply, until ctx ends. It fails at once with ErrNoResponders when
// nothing subscribes to the topic.
func (b *Broker) Request(ctx context.Context, name string, payload []byte, corr *pb.Correlation) (*Message, error) {
	if err := topic.ValidateName(name); err != nil {
		return nil, err
	}
	l, err := b.localSession()
	if err != nil {
		return nil, err
	}
	timeout := DefaultRequestTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	w := &localRequest{done: make(chan struct{})}
	o := outgoing{topic: name, payload: bytes.Clone(payload), correlation: corr, from: l.publisher}
	if e := b.request(o, w, 0, l.publisher.SessionId, timeout); e != nil {
		return nil, &RequestError{Code: e.Code, Message: e.Message}
	}
	select {
	case <-w.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if w.fail != nil {
		return nil, &RequestError{Code: w.fail.Code, Message: w.fail.Message}
	}
	r := w.resp
	return &Message{
		Topic:       name,
		Payload:     r.Payload,
		Time:        time.Now(),
		Publisher:   publisherOf(r.Responder),
		Correlation: r.Correlation,
	}, nil
}

// localRequest waits for the answer to an in-process request.
type localRequest struct {
	done chan struct{}
	resp *pb.Response
	fail *pb.Error
}

func (w *localRequest) answer(_ uint64, resp *pb.Response, fail *pb.Error) {
	w.resp, w.fail = resp, fail
	close(w.done)
}

// Respond answers a request delivered to an in-process handler. Only the
// first answer to a request reaches the requester; Respond reports false for
// a message that is not a request or whose request is answered or expired.
func (m *Message) Respond(payload []byte, corr *pb.Correlation) bool {
	if m.replyTo == "" || m.b == nil {
		return false
	}
	return m.b.reply(m.replyTo, bytes.Clone(payload), corr, m.b.local.publisher)
}

// IsRequest reports whether the message is a request, to be answered with
// Respond.
func (m *Message) IsRequest() bool { return m.replyTo != "" }

func publisherOf(p *pb.Publisher) Publisher {
	return Publisher{ClientName: p.GetClientName(), InstanceID: p.GetInstanceId(), SessionID: p.GetSessionId()}
}

// localSession is the hosting program's own session: it publishes under
// Config.LocalName and runs in-process handlers on one goroutine.
type localSession struct {
	b         *Broker
	q         *queue
	publisher *pb.Publisher
	// publisherRaw is publisher encoded once, for the frames of its events.
	publisherRaw []byte
	done         chan struct{}

	mu     sync.Mutex // guards subs and nextID
	subs   map[uint32]*LocalSubscription
	nextID uint32
}

func (b *Broker) localSession() (*localSession, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return nil, ErrClosed
	}
	if b.local == nil {
		id := b.nextSessionID.Add(1)
		publisher := &pb.Publisher{ClientName: b.cfg.LocalName, SessionId: id}
		raw, err := proto.Marshal(publisher)
		if err != nil {
			return nil, fmt.Errorf("broker: encode the in-process publisher: %w", err)
		}
		b.local = &localSession{
			b:            b,
			q:            newQueue(b.cfg.queueLimits(), 1),
			publisher:    publisher,
			publisherRaw: raw,
			done:         make(chan struct{}),
			subs:         make(map[uint32]*LocalSubscription),
		}
		b.local.q.log = b.log.With("session", "local")
		go b.local.dispatch()
	}
	return b.local, nil
}

// enqueue implements receiver.
func (l *localSession) enqueue(ev *event, sids []uint32) bool {
	if l.q.pushEvent(ev, sids) == droppedFull {
		l.b.counters.dropped.Add(1)
		return false
	}
	return true
}

// offer implements receiver.
func (l *localSession) offer(ev *event, sids []uint32, anyRoom bool) bool {
	return l.q.offerEvent(ev, sids, anyRoom).queued()
}

// needsFrame implements receiver: handlers get the decoded event.
func (l *localSession) needsFrame() bool { return false }

// mayReceive implements receiver: the hosting program is trusted with every
// topic.
func (l *localSession) mayReceive(string) bool { return true }

func (l *localSession) dispatch() {
	defer close(l.done)
	for range l.q.wake {
		for {
			batch, more, closed := l.q.take()
			for c := batch; c != nil; c = c.next {
				for i := range c.entries() {
					l.deliver(&c.items[i])
				}
			}
			l.q.recycle(batch)
			if closed {
				return
			}
			if !more {
				break
			}
		}
	}
}

func (l *localSession) deliver(it *queued) {
	d := it.ev.deliver
	for _, sid := range it.sids {
		l.mu.Lock()
		ls := l.subs[sid]
		l.mu.Unlock()
		if ls == nil {
			continue // unsubscribed while the event was queued
		}
		ls.handler(&Message{
			Topic:          d.Topic,
			Payload:        d.Payload,
			Time:           time.Unix(0, d.TimestampUnixNano),
			Publisher:      publisherOf(d.Publisher),
			Correlation:    d.Correlation,
			SubscriptionID: sid,
			Dropped:        it.dropped,
			replyTo:        d.ReplyTo,
			b:              l.b,
		})
	}
}

// close stops the dispatcher after it has run what is queued.
func (l *localSession) close() {
	l.mu.Lock()
	subs := l.subs
	l.subs = map[uint32]*LocalSubscription{}
	l.mu.Unlock()
	for _, ls := range subs {
		l.b.index.Remove(ls.sub.filter, ls.sub)
	}
	l.q.close()
	<-l.done
}

func (l *localSession) subscriptionList() *pb.SessionSubscriptions {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := &pb.SessionSubscriptions{SessionId: l.publisher.SessionId, ClientName: l.publisher.ClientName}
	for id, ls := range l.subs {
		out.Subscriptions = append(out.Subscriptions, &pb.SubscriptionInfo{SubscriptionId: id, Filter: ls.sub.filter.String()})
	}
	sort.Slice(out.Subscriptions, func(i, j int) bool {
		return out.Subscriptions[i].SubscriptionId < out.Subscriptions[j].SubscriptionId
	})
	return out
}
