package client

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/daemoneye/eventbus/wire"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

const frameHeader = wire.HeaderSize

// readLoop handles every frame from the broker on l until l fails. A broker
// silent for three ping intervals (it answers every ping) is taken for
// dead.
func (c *Client) readLoop(l *link) {
	defer l.wg.Done()
	silence := 3 * c.pingInterval(l)
	var cur *batch // being filled
	// flush hands the collected messages to the dispatcher in one step.
	flush := func() bool {
		if cur == nil {
			return true
		}
		select {
		case c.deliveries <- cur:
			cur = nil
			return true
		case <-l.done:
			return false
		}
	}
	for {
		if !l.rd.NextBuffered() {
			// Only a read that may wait for the socket needs the deadline.
			if err := l.conn.SetReadDeadline(time.Now().Add(silence)); err != nil {
				l.fail(err)
				return
			}
		}
		msg, err := l.rd.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("broker closed the connection")
			}
			l.fail(fmt.Errorf("read: %w", err))
			return
		}
		if v, ok := wire.ParseDeliver(msg); ok {
			// The common case, without building protobuf structs.
			if cur == nil {
				cur = c.newBatch()
			}
			m, err := c.messageFrom(l, cur, &v)
			if err != nil {
				l.fail(err)
				return
			}
			cur.msgs = append(cur.msgs, m)
			if l.rd.NextBuffered() && len(cur.msgs) < maxBatch {
				continue // the next frame is already here
			}
			if !flush() {
				return
			}
			continue
		}
		// Keep order: messages read before this frame go first.
		if !flush() {
			return
		}
		env := new(pb.Envelope)
		if err := wire.DecodeEnvelope(msg, env); err != nil {
			l.fail(err)
			return
		}
		if !c.handle(l, env) {
			return
		}
	}
}

// maxBatch bounds the messages the reader hands the dispatcher at once.
const maxBatch = 128

// handle dispatches one frame; false means l is over.
func (c *Client) handle(l *link, env *pb.Envelope) bool {
	switch k := env.Kind.(type) {
	case *pb.Envelope_Deliver:
		m := newMessage(c, k.Deliver, env.Delivery)
		select {
		case c.deliveries <- &batch{msgs: []*Message{m}}:
		case <-l.done:
			return false
		}
	case *pb.Envelope_SubAck:
		c.subAcked(k.SubAck)
		if !c.answer(waitKey{waitSubAck, uint64(k.SubAck.SubscriptionId)}, env) {
			c.resubscribed(k.SubAck)
		}
	case *pb.Envelope_PubAck:
		c.answer(waitKey{waitPubAck, k.PubAck.PublishId}, env)
	case *pb.Envelope_SubscriptionList:
		c.answer(waitKey{waitRequest, k.SubscriptionList.RequestId}, env)
	case *pb.Envelope_Ack:
		c.answer(waitKey{waitRequest, k.Ack.RequestId}, env)
	case *pb.Envelope_Response:
		c.answer(waitKey{waitRequest, k.Response.RequestId}, env)
	case *pb.Envelope_StatsReply:
		c.answer(waitKey{waitRequest, k.StatsReply.RequestId}, env)
	case *pb.Envelope_Pong:
	case *pb.Envelope_Ping:
		_ = c.out.sendSession(&pb.Envelope{Kind: &pb.Envelope_Pong{Pong: &pb.Pong{Nonce: k.Ping.Nonce}}}, l.epoch)
	case *pb.Envelope_Error:
		return c.handleError(l, env, k.Error)
	default:
		l.log.Debug("ignoring unexpected message from the broker", "kind", fmt.Sprintf("%T", env.Kind))
	}
	return true
}

func (c *Client) handleError(l *link, env *pb.Envelope, e *pb.Error) bool {
	switch {
	case e.PublishId != 0 && c.answer(waitKey{waitPubAck, e.PublishId}, env):
	case e.RequestId != 0 && c.answer(waitKey{waitRequest, e.RequestId}, env):
	case e.Fatal:
		l.fail(brokerError(e))
		return false
	case e.SubscriptionId != 0:
		// The broker ended the subscription (a policy reload no longer
		// allows it): forget it, and say so.
		c.mu.Lock()
		delete(c.subs, e.SubscriptionId)
		c.mu.Unlock()
		c.report(brokerError(e))
	default:
		c.report(brokerError(e))
	}
	return true
}

// subAcked counts the answer to a subscription the latest link
// re-established.
func (c *Client) subAcked(a *pb.SubAck) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.resub[a.SubscriptionId]; ok {
		delete(c.resub, a.SubscriptionId)
		if len(c.resub) == 0 {
			close(c.resubDone)
		}
	}
}

// resubscribed handles the answer to a subscription re-established after a
// reconnection, which no caller awaits: a refusal removes the subscription
// and is reported to OnError.
func (c *Client) resubscribed(a *pb.SubAck) {
	c.mu.Lock()
	sub := c.subs[a.SubscriptionId]
	switch {
	case sub == nil:
	case a.Granted:
		sub.granted = true
		sub = nil
	default:
		delete(c.subs, a.SubscriptionId)
	}
	c.mu.Unlock()
	if sub != nil {
		c.report(&BrokerError{Code: a.Code, Message: a.Reason, Topic: sub.filter})
	}
}

// dispatchLoop runs handlers, one message at a time, in delivery order.
func (c *Client) dispatchLoop() {
	defer c.wg.Done()
	for {
		select {
		case b := <-c.deliveries:
			c.dispatchBatch(b)
		case <-c.done:
			c.mu.Lock()
			closing := c.closing
			c.mu.Unlock()
			if closing {
				return // Close discards what is not handled yet
			}
			// The client ended on its own (the broker went away): what it
			// had read is still handled.
			for {
				select {
				case b := <-c.deliveries:
					c.dispatchBatch(b)
				default:
					return
				}
			}
		}
	}
}

func (c *Client) dispatchBatch(b *batch) {
	for _, m := range b.msgs {
		c.dispatch(m)
	}
	c.recycle(b)
}

func (c *Client) dispatch(m *Message) {
	for _, id := range m.SubscriptionIDs {
		c.mu.Lock()
		sub := c.subs[id]
		c.mu.Unlock()
		if sub != nil {
			sub.handler(m)
		}
	}
}

// pingLoop keeps l alive while it is idle.
func (c *Client) pingLoop(l *link) {
	defer l.wg.Done()
	t := time.NewTicker(c.pingInterval(l))
	defer t.Stop()
	var nonce uint64
	for {
		select {
		case <-t.C:
			nonce++
			_ = c.out.sendSession(&pb.Envelope{Kind: &pb.Envelope_Ping{Ping: &pb.Ping{Nonce: nonce}}}, l.epoch)
		case <-l.done:
			return
		}
	}
}
