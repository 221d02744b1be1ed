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

// stateErr is the error for an operation on a client that is not connected.
func (c *Client) stateErr() error {
	if err := c.Err(); err != nil {
		return err
	}
	return ErrClosed
}

// pingInterval is how often the client pings: its own setting, or the
// broker's request from the handshake, or 10s.
func (c *Client) pingInterval() time.Duration {
	if c.opts.PingInterval > 0 {
		return c.opts.PingInterval
	}
	if ms := c.welcome.GetPingIntervalMs(); ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return 10 * time.Second
}

// readLoop handles every frame from the broker until the connection ends. A
// broker silent for three ping intervals (it answers every ping) is taken
// for dead.
func (c *Client) readLoop(rd *wire.Reader) {
	defer c.wg.Done()
	defer close(c.deliveries)
	silence := 3 * c.pingInterval()
	for {
		if err := c.conn.SetReadDeadline(time.Now().Add(silence)); err != nil {
			c.fail(err)
			return
		}
		msg, err := rd.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("broker closed the connection")
			}
			c.fail(fmt.Errorf("read: %w", err))
			return
		}
		env := new(pb.Envelope)
		if err := wire.DecodeEnvelope(msg, env); err != nil {
			c.fail(err)
			return
		}
		if !c.handle(env) {
			return
		}
	}
}

// handle dispatches one frame; false means the connection is over.
func (c *Client) handle(env *pb.Envelope) bool {
	switch k := env.Kind.(type) {
	case *pb.Envelope_Deliver:
		m := newMessage(k.Deliver, env.Delivery)
		select {
		case c.deliveries <- m:
		case <-c.done:
			return false
		}
	case *pb.Envelope_SubAck:
		c.answer(waitKey{waitSubAck, uint64(k.SubAck.SubscriptionId)}, env)
	case *pb.Envelope_PubAck:
		c.answer(waitKey{waitPubAck, k.PubAck.PublishId}, env)
	case *pb.Envelope_SubscriptionList:
		c.answer(waitKey{waitRequest, k.SubscriptionList.RequestId}, env)
	case *pb.Envelope_Ack:
		c.answer(waitKey{waitRequest, k.Ack.RequestId}, env)
	case *pb.Envelope_Pong:
	case *pb.Envelope_Ping:
		_ = c.out.sendControl(&pb.Envelope{Kind: &pb.Envelope_Pong{Pong: &pb.Pong{Nonce: k.Ping.Nonce}}})
	case *pb.Envelope_Error:
		return c.handleError(env, k.Error)
	default:
		c.log.Debug("ignoring unexpected message from the broker", "kind", fmt.Sprintf("%T", env.Kind))
	}
	return true
}

func (c *Client) handleError(env *pb.Envelope, e *pb.Error) bool {
	switch {
	case e.PublishId != 0 && c.answer(waitKey{waitPubAck, e.PublishId}, env):
	case e.RequestId != 0 && c.answer(waitKey{waitRequest, e.RequestId}, env):
	case e.Fatal:
		c.fail(fmt.Errorf("%w: %w", ErrNotConnected, brokerError(e)))
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

// report hands an asynchronous broker error to Options.OnError, or logs it.
func (c *Client) report(err *BrokerError) {
	if c.opts.OnError != nil {
		c.opts.OnError(err)
		return
	}
	c.log.Warn("broker reported an error", "err", err)
}

// dispatchLoop runs handlers, one message at a time, in delivery order.
func (c *Client) dispatchLoop() {
	defer c.wg.Done()
	for m := range c.deliveries {
		for _, id := range m.SubscriptionIDs {
			c.mu.Lock()
			sub := c.subs[id]
			c.mu.Unlock()
			if sub != nil {
				sub.handler(m)
			}
		}
	}
}

func (c *Client) pingLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.pingInterval())
	defer t.Stop()
	var nonce uint64
	for {
		select {
		case <-t.C:
			nonce++
			if err := c.out.sendControl(&pb.Envelope{Kind: &pb.Envelope_Ping{Ping: &pb.Ping{Nonce: nonce}}}); err != nil {
				return
			}
		case <-c.done:
			return
		}
	}
}
