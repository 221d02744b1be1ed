package client

import (
	"context"
	"fmt"
	"sort"

	"github.com/daemoneye/eventbus/topic"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// MaxGroupLength bounds queue group names, in bytes.
const MaxGroupLength = 64

// Handler receives the messages of a subscription. Handlers of one client run
// one at a time, in delivery order, on the client's reader or dispatcher
// goroutine (see the package documentation). A handler may wait for the
// client's answers (Request, PublishConfirmed, Subscribe...), but not for
// long: while it waits, deliveries queue up, and once Options.DeliveryQueue
// is full the reader stalls, and with it the answer. Start a goroutine for
// that.
type Handler func(*Message)

// Subscription is a subscription of the client. Cancel it with Unsubscribe.
// It survives reconnections: the client re-establishes it, with the same
// id, filter and group, on every new connection.
type Subscription struct {
	c       *Client
	id      uint32
	filter  string
	group   string
	handler Handler
	granted bool // guarded by c.mu
}

// ID returns the subscription's id, as found in Message.SubscriptionIDs.
func (s *Subscription) ID() uint32 { return s.id }

// Filter returns the subscription's topic filter.
func (s *Subscription) Filter() string { return s.filter }

// Group returns the subscription's queue group, or "" for a plain
// subscription.
func (s *Subscription) Group() string { return s.group }

// Unsubscribe cancels the subscription; see Client.Unsubscribe.
func (s *Subscription) Unsubscribe() error { return s.c.Unsubscribe(s) }

// Subscribe asks the broker for every event whose topic matches filter and
// waits, for at most Options.ReplyTimeout, for its answer. A refusal is a
// *BrokerError (errors.Is ErrRefused) with the broker's reason. While the
// client is reconnecting, the subscription is made on the next connection
// and Subscribe waits for it.
func (c *Client) Subscribe(filter string, handler Handler) (*Subscription, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.ReplyTimeout)
	defer cancel()
	return c.subscribe(ctx, filter, "", handler)
}

// SubscribeContext is Subscribe with a context bounding the wait.
func (c *Client) SubscribeContext(ctx context.Context, filter string, handler Handler) (*Subscription, error) {
	return c.subscribe(ctx, filter, "", handler)
}

// SubscribeGroup is Subscribe as a member of a queue group: the broker
// gives each matching event to exactly one member of the group (of this
// client or others), besides every plain subscriber. group is 1 to
// MaxGroupLength bytes of letters, digits, '.', '_' and '-', like client
// names; another name is refused before sending, with ErrBadGroup.
func (c *Client) SubscribeGroup(filter, group string, handler Handler) (*Subscription, error) {
	if err := validateGroup(group); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.ReplyTimeout)
	defer cancel()
	return c.subscribe(ctx, filter, group, handler)
}

func validateGroup(g string) error {
	if g == "" {
		return fmt.Errorf("%w: empty name", ErrBadGroup)
	}
	if len(g) > MaxGroupLength {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrBadGroup, len(g), MaxGroupLength)
	}
	for i := 0; i < len(g); i++ {
		if ch := g[i]; !isNameByte(ch) {
			return fmt.Errorf("%w: %q has character %q; allowed are letters, digits, '.', '_' and '-'", ErrBadGroup, g, ch)
		}
	}
	return nil
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

func (c *Client) subscribe(ctx context.Context, filter, group string, handler Handler) (*Subscription, error) {
	if _, err := topic.ParseFilter(filter); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadFilter, err)
	}
	if handler == nil {
		return nil, fmt.Errorf("client: Subscribe needs a handler")
	}
	sub := &Subscription{c: c, id: c.newSubscriptionID(), filter: filter, group: group, handler: handler}
	key := waitKey{waitSubAck, uint64(sub.id)}
	ch := make(chan answer, 1)
	// Registered before the request: deliveries may follow the ack at
	// once. A reconnection from here on re-establishes it.
	c.mu.Lock()
	if err := c.usableLocked(); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	c.subs[sub.id] = sub
	c.waiters[key] = &waiter{ch: ch}
	epoch, connected := c.epoch, c.link != nil
	c.mu.Unlock()

	var err error
	if connected {
		err = c.out.sendSession(subscribeEnvelope(sub), epoch)
	}
	var ans *pb.Envelope
	if err == nil {
		ans, err = c.wait(ctx, key, ch)
	}
	if err == nil && !ans.GetSubAck().GetGranted() {
		a := ans.GetSubAck()
		err = &BrokerError{Code: a.Code, Message: a.Reason, Topic: filter}
	}
	if err != nil {
		c.mu.Lock()
		delete(c.subs, sub.id)
		delete(c.waiters, key)
		epoch, connected = c.epoch, c.link != nil
		c.mu.Unlock()
		if ctx.Err() != nil && connected {
			// The broker may still grant it: cancel it there too.
			_ = c.out.sendSession(unsubscribeEnvelope(sub.id), epoch)
		}
		return nil, err
	}
	c.mu.Lock()
	sub.granted = true
	c.mu.Unlock()
	return sub, nil
}

func (c *Client) newSubscriptionID() uint32 {
	for {
		if id := c.nextSubID.Add(1); id != 0 {
			return id
		}
	}
}

// Unsubscribe cancels sub. Messages for it that are already on their way are
// discarded. Unsubscribing twice is harmless. While the client is
// reconnecting, the subscription is simply not re-established.
func (c *Client) Unsubscribe(sub *Subscription) error {
	c.mu.Lock()
	_, ok := c.subs[sub.id]
	delete(c.subs, sub.id)
	err := c.usableLocked()
	epoch, connected := c.epoch, c.link != nil
	c.mu.Unlock()
	switch {
	case !ok:
		return nil
	case err != nil:
		return err
	case !connected:
		return nil
	}
	return c.out.sendSession(unsubscribeEnvelope(sub.id), epoch)
}

func subscribeEnvelope(s *Subscription) *pb.Envelope {
	return &pb.Envelope{Kind: &pb.Envelope_Subscribe{Subscribe: &pb.Subscribe{
		SubscriptionId: s.id, Filter: s.filter, QueueGroup: s.group,
	}}}
}

func unsubscribeEnvelope(id uint32) *pb.Envelope {
	return &pb.Envelope{Kind: &pb.Envelope_Unsubscribe{Unsubscribe: &pb.Unsubscribe{SubscriptionId: id}}}
}

// SubscriptionInfo describes one of the client's subscriptions.
type SubscriptionInfo struct {
	ID     uint32
	Filter string
	// Group is the queue group, or "" for a plain subscription.
	Group string
}

// Subscriptions lists the client's granted subscriptions, by id.
func (c *Client) Subscriptions() []SubscriptionInfo {
	c.mu.Lock()
	out := make([]SubscriptionInfo, 0, len(c.subs))
	for _, s := range c.subs {
		if !s.granted {
			continue
		}
		out = append(out, SubscriptionInfo{ID: s.id, Filter: s.filter, Group: s.group})
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
