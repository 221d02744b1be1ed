package broker

import (
	"bytes"
	"fmt"
	"sort"
	"sync"
	"time"

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
	return b.publish(name, bytes.Clone(payload), corr, l.publisher)
}

// Subscribe subscribes the hosting program to filter. handler runs on the
// broker's in-process dispatch goroutine.
func (b *Broker) Subscribe(filter string, handler Handler) (*LocalSubscription, error) {
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
	ls := &LocalSubscription{sub: &subscription{id: l.nextID, filter: f, rcv: l}, handler: handler, ls: l}
	l.subs[ls.sub.id] = ls
	l.mu.Unlock()
	b.index.Insert(f, ls.sub)
	return ls, nil
}

// localSession is the hosting program's own session: it publishes under
// Config.LocalName and runs in-process handlers on one goroutine.
type localSession struct {
	b         *Broker
	q         *queue
	publisher *pb.Publisher
	done      chan struct{}

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
		b.local = &localSession{
			b:         b,
			q:         newQueue(b.cfg.QueueMessages, b.cfg.QueueBytes, 1),
			publisher: &pb.Publisher{ClientName: b.cfg.LocalName, SessionId: id},
			done:      make(chan struct{}),
			subs:      make(map[uint32]*LocalSubscription),
		}
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

// needsFrame implements receiver: handlers get the decoded event.
func (l *localSession) needsFrame() bool { return false }

// mayReceive implements receiver: the hosting program is trusted with every
// topic.
func (l *localSession) mayReceive(string) bool { return true }

func (l *localSession) dispatch() {
	defer close(l.done)
	for range l.q.wake {
		batch, closed := l.q.take()
		for i := range batch {
			l.deliver(&batch[i])
		}
		l.q.recycle(batch)
		if closed {
			return
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
			Publisher:      Publisher{ClientName: d.Publisher.GetClientName(), InstanceID: d.Publisher.GetInstanceId(), SessionID: d.Publisher.GetSessionId()},
			Correlation:    d.Correlation,
			SubscriptionID: sid,
			Dropped:        it.dropped,
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
