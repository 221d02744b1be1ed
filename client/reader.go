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

// readLoop handles every frame from the broker on l until l fails, or
// until it retires because a handler it ran waited and another goroutine
// took over reading (see takeOver). A broker silent for three ping
// intervals (it answers every ping) is taken for dead.
func (c *Client) readLoop(l *link) {
	if retired := c.read(l); retired {
		c.wg.Done() // counted by takeOver: this goroutine is no longer l's reader
		return
	}
	l.wg.Done()
}

// read is readLoop's body; it reports whether the goroutine retired.
func (c *Client) read(l *link) (retired bool) {
	silence := 3 * c.pingInterval(l)
	var cur *batch // being filled
	// flush hands the collected messages to the handlers in one step.
	// Before a frame that is not a delivery it must not run them here: the
	// frame is still in the read buffer, which a reader taking over would
	// overwrite.
	flush := func(mayRun bool) bool {
		if cur == nil {
			return true
		}
		b := cur
		cur = nil
		ok, r := c.deliver(l, b, mayRun)
		retired = r
		return ok && !r
	}
	for {
		if !l.rd.NextBuffered() {
			// Only a read that may wait for the socket needs the deadline.
			if err := l.conn.SetReadDeadline(time.Now().Add(silence)); err != nil {
				l.fail(err)
				return false
			}
		}
		msg, err := l.rd.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("broker closed the connection")
			}
			l.fail(fmt.Errorf("read: %w", err))
			return false
		}
		if v, ok := wire.ParseDeliver(msg); ok {
			// The common case, without building protobuf structs.
			if cur == nil {
				cur = c.newBatch()
			}
			m, err := c.messageFrom(l, cur, &v)
			if err != nil {
				l.fail(err)
				return false
			}
			cur.msgs = append(cur.msgs, m)
			if l.rd.NextBuffered() && len(cur.msgs) < maxBatch {
				continue // the next frame is already here
			}
			if !flush(true) {
				return retired
			}
			continue
		}
		// Keep order: messages read before this frame go first.
		if !flush(false) {
			return retired
		}
		env := new(pb.Envelope)
		if err := wire.DecodeEnvelope(msg, env); err != nil {
			l.fail(err)
			return false
		}
		if ok, r := c.handle(l, env); !ok || r {
			return r
		}
	}
}

// deliver hands a batch read from l to the handlers. When mayRun is set,
// no handler is running and nothing waits for the dispatcher, the reader
// runs them itself: a message that arrives alone then costs no wake-up of
// another goroutine. Otherwise the batch queues for the dispatcher, behind
// what is already there. ok is false when l ended while the batch waited
// for room (it is dropped with the link); retired is true when, while a
// handler ran here, another goroutine took over reading l: because the
// handler waited for an answer, ran longer than inlineBudget, or l failed.
func (c *Client) deliver(l *link, b *batch, mayRun bool) (ok, retired bool) {
	// Only l's reader queues batches, so a pending count of zero stays
	// zero until this goroutine queues one; the mutex keeps handlers from
	// overlapping with a dispatcher or a retired reader still finishing.
	if mayRun && c.pending.Load() == 0 && c.handlers.TryLock() {
		c.inline.Lock()
		c.inlineLink = l
		c.inline.Unlock()
		c.watchdog.Reset(inlineBudget)
		c.dispatchBatch(b)
		c.watchdog.Stop()
		c.inline.Lock()
		retired = c.tookOver
		c.inlineLink, c.tookOver = nil, false
		c.inline.Unlock()
		c.handlers.Unlock()
		return true, retired
	}
	c.pending.Add(1)
	select {
	case c.deliveries <- b:
		return true, false
	case <-l.done:
		c.pending.Add(-1)
		return false, false
	}
}

// takeOver starts a new reader for the link whose reader is running
// handlers, if one is; the old reader finishes its batch, then retires.
// Whatever a handler waits for, reading goes on without it: every wait for
// the broker's answer calls takeOver (the answer may be for a handler
// running on the reader, and a wait from another goroutine gets its answer
// sooner too), so does the watchdog of a handler that runs longer than
// inlineBudget (what arrives meanwhile then queues for the dispatcher, as
// it would have without running on the reader), and so does the supervisor
// when the link fails (it must not wait for the handler to reconnect).
func (c *Client) takeOver() {
	c.inline.Lock()
	defer c.inline.Unlock()
	l := c.inlineLink
	if l == nil {
		return
	}
	c.inlineLink, c.tookOver = nil, true
	// The reader is running, so the supervisor still waits for it and the
	// count is not zero: adding to it is safe.
	c.wg.Add(1)
	go c.readLoop(l) // inherits the old reader's count in l.wg
}

// maxBatch bounds the messages of a batch.
const maxBatch = 128

// inlineBudget is how long handlers may run on the reader before another
// goroutine takes over reading: long for a handler, short for the events
// piling up unread meanwhile.
const inlineBudget = time.Millisecond

// handle dispatches one frame. ok is false when l is over; retired is
// true when this goroutine is no longer l's reader (see deliver).
func (c *Client) handle(l *link, env *pb.Envelope) (ok, retired bool) {
	switch k := env.Kind.(type) {
	case *pb.Envelope_Deliver:
		m := newMessage(c, k.Deliver, env.Delivery)
		return c.deliver(l, &batch{msgs: []*Message{m}}, true)
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
		return c.handleError(l, env, k.Error), false
	default:
		l.log.Debug("ignoring unexpected message from the broker", "kind", fmt.Sprintf("%T", env.Kind))
	}
	return true, false
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

// dispatchLoop runs the handlers of the batches the reader queues, one
// message at a time, in delivery order.
func (c *Client) dispatchLoop() {
	defer c.wg.Done()
	for {
		select {
		case b := <-c.deliveries:
			c.handlers.Lock()
			c.dispatchBatch(b)
			c.handlers.Unlock()
			c.pending.Add(-1)
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
					c.handlers.Lock()
					c.dispatchBatch(b)
					c.handlers.Unlock()
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
