package client

import (
	"context"
	"fmt"
	"sort"

	"github.com/daemoneye/eventbus/topic"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// Handler receives the messages of a subscription. Handlers of one client run
// one at a time on its dispatch goroutine.
type Handler func(*Message)

// Subscription is a granted subscription. Cancel it with Unsubscribe.
type Subscription struct {
	c       *Client
	id      uint32
	filter  string
	handler Handler
	granted bool // guarded by c.mu
}

// ID returns the subscription's id, as found in Message.SubscriptionIDs.
func (s *Subscription) ID() uint32 { return s.id }

// Filter returns the subscription's topic filter.
func (s *Subscription) Filter() string { return s.filter }

// Unsubscribe cancels the subscription; see Client.Unsubscribe.
func (s *Subscription) Unsubscribe() error { return s.c.Unsubscribe(s) }

// Subscribe asks the broker for every event whose topic matches filter and
// waits, for at most Options.ReplyTimeout, for its answer. A refusal is a
// *BrokerError (errors.Is ErrRefused) with the broker's reason.
func (c *Client) Subscribe(filter string, handler Handler) (*Subscription, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.ReplyTimeout)
	defer cancel()
	return c.SubscribeContext(ctx, filter, handler)
}

// SubscribeContext is Subscribe with a context bounding the wait.
func (c *Client) SubscribeContext(ctx context.Context, filter string, handler Handler) (*Subscription, error) {
	if _, err := topic.ParseFilter(filter); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadFilter, err)
	}
	if handler == nil {
		return nil, fmt.Errorf("client: Subscribe needs a handler")
	}
	sub := &Subscription{c: c, id: c.newSubscriptionID(), filter: filter, handler: handler}
	// Registered before the request: deliveries may follow the ack at once.
	c.mu.Lock()
	c.subs[sub.id] = sub
	c.mu.Unlock()
	ans, err := c.request(ctx, waitKey{waitSubAck, uint64(sub.id)}, &pb.Envelope{Kind: &pb.Envelope_Subscribe{
		Subscribe: &pb.Subscribe{SubscriptionId: sub.id, Filter: filter},
	}})
	if err == nil && !ans.GetSubAck().GetGranted() {
		a := ans.GetSubAck()
		err = &BrokerError{Code: a.Code, Message: a.Reason, Topic: filter}
	}
	if err != nil {
		c.mu.Lock()
		delete(c.subs, sub.id)
		c.mu.Unlock()
		if ctx.Err() != nil {
			// The broker may still grant it: cancel it there too.
			_ = c.out.sendControl(unsubscribeEnvelope(sub.id))
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
// discarded. Unsubscribing twice is harmless.
func (c *Client) Unsubscribe(sub *Subscription) error {
	c.mu.Lock()
	_, ok := c.subs[sub.id]
	delete(c.subs, sub.id)
	c.mu.Unlock()
	if !ok {
		return nil
	}
	return c.out.sendControl(unsubscribeEnvelope(sub.id))
}

func unsubscribeEnvelope(id uint32) *pb.Envelope {
	return &pb.Envelope{Kind: &pb.Envelope_Unsubscribe{Unsubscribe: &pb.Unsubscribe{SubscriptionId: id}}}
}

// SubscriptionInfo describes one of the client's subscriptions.
type SubscriptionInfo struct {
	ID     uint32
	Filter string
}

// Subscriptions lists the client's granted subscriptions, by id.
func (c *Client) Subscriptions() []SubscriptionInfo {
	c.mu.Lock()
	out := make([]SubscriptionInfo, 0, len(c.subs))
	for _, s := range c.subs {
		if !s.granted {
			continue
		}
		out = append(out, SubscriptionInfo{ID: s.id, Filter: s.filter})
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
