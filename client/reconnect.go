package client

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// install makes l the connection in use: it queues the re-establishment of
// every subscription in front of the buffered frames, then starts l's
// goroutines. The returned channel is closed once the broker has answered
// every re-established subscription. It reports false, and closes l, when
// Close came first.
func (c *Client) install(l *link) (<-chan struct{}, bool) {
	c.welcome.Store(l.welcome)
	c.maxMsg.Store(int64(l.maxMsg))
	c.mu.Lock()
	if c.usableLocked() != nil {
		c.mu.Unlock()
		l.conn.Close()
		return nil, false
	}
	// Taken together with the new epoch: a subscription added or removed
	// from now on is sent on this link after these, and one changed before
	// is in this snapshot (its own frame, if any, belongs to an older
	// link and is dropped).
	c.epoch++
	l.epoch = c.epoch
	l.up = time.Now()
	c.link = l
	subs := make([]*Subscription, 0, len(c.subs))
	c.resub = make(map[uint32]struct{}, len(c.subs))
	for id, s := range c.subs {
		subs = append(subs, s)
		c.resub[id] = struct{}{}
	}
	c.resubDone = make(chan struct{})
	acked := c.resubDone
	if len(subs) == 0 {
		close(c.resubDone)
	}
	c.mu.Unlock()

	sort.Slice(subs, func(i, j int) bool { return subs[i].id < subs[j].id })
	envs := make([]*pb.Envelope, len(subs))
	for i, s := range subs {
		envs[i] = subscribeEnvelope(s)
	}
	c.out.prependSession(envs, l.epoch)
	l.wg.Add(3)
	go c.readLoop(l)
	go c.out.writeLoop(l)
	go c.pingLoop(l)
	c.out.signal()
	return acked, true
}

// run supervises the client's connections: when one fails it waits for its
// goroutines, then reconnects, until Close or a failure that retrying cannot
// fix.
func (c *Client) run(l *link) {
	defer c.wg.Done()
	attempt := 0
	for {
		<-l.done
		c.takeOver() // a handler running on l's reader must not hold up the rest
		l.wg.Wait()
		cause := l.cause
		c.detach(l, cause)
		switch {
		case c.isClosing():
			c.finish(ErrClosed)
			return
		case c.opts.Reconnect.Disabled || endsClient(cause):
			c.finish(cause)
			return
		}
		if time.Since(l.up) >= c.opts.Reconnect.MaxDelay {
			attempt = 0
		}
		c.setState(Reconnecting, cause)
		next, n, err := c.reconnect(attempt)
		attempt = n
		if err != nil {
			c.finish(err)
			return
		}
		acked, ok := c.install(next)
		if !ok {
			c.finish(ErrClosed)
			return
		}
		l = next
		c.awaitResubscription(l, acked)
	}
}

func (c *Client) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// reconnect connects again, waiting the backoff before each attempt, from
// attempt number attempt on. It returns the new link and the number of the
// next attempt, or the error that ends the client.
func (c *Client) reconnect(attempt int) (*link, int, error) {
	for {
		delay := c.opts.Reconnect.backoff(attempt, rand.Float64())
		attempt++
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return nil, attempt, ErrClosed
		}
		l, err := c.connect(c.ctx)
		switch {
		case err == nil:
			return l, attempt, nil
		case c.ctx.Err() != nil:
			return nil, attempt, ErrClosed
		case refusedForGood(err):
			return nil, attempt, fmt.Errorf("%w: reconnecting: %w", ErrNotConnected, err)
		}
		if attempt%10 == 0 {
			c.log.Warn("still reconnecting", "attempts", attempt, "err", err)
		} else {
			c.log.Debug("reconnection attempt failed", "attempt", attempt, "err", err)
		}
	}
}

// awaitResubscription reports Connected once the broker has answered every
// subscription l re-established, or after ReplyTimeout, unless l fails
// first.
func (c *Client) awaitResubscription(l *link, acked <-chan struct{}) {
	t := time.NewTimer(c.opts.ReplyTimeout)
	defer t.Stop()
	select {
	case <-acked:
	case <-l.done:
		return
	case <-t.C:
		c.log.Warn("the broker has not answered every re-established subscription yet", "timeout", c.opts.ReplyTimeout)
	}
	c.setState(Connected, nil)
}

// detach forgets l after it failed and its goroutines have ended: its
// session frames are dropped, and callers whose request was written to it
// and not answered learn that its outcome is unknown. Requests still
// buffered stay, for the next connection.
func (c *Client) detach(l *link, cause error) {
	c.mu.Lock()
	if c.link == l {
		c.link = nil
	}
	type lost struct {
		key waitKey
		w   *waiter
	}
	var unknown []lost
	for key, w := range c.waiters {
		if w.written {
			unknown = append(unknown, lost{key, w})
			delete(c.waiters, key)
		}
	}
	c.mu.Unlock()
	c.out.dropSession()
	for _, u := range unknown {
		u.w.ch <- answer{err: fmt.Errorf("%w: the connection failed after the %s was sent and before its answer, so its outcome is unknown: %w",
			ErrNotConnected, u.key.kind, cause)}
	}
}

func (k waitKind) String() string {
	switch k {
	case waitSubAck:
		return "subscription"
	case waitPubAck:
		return "publish"
	default:
		return "request"
	}
}

// finish ends the client for cause: every waiter and blocked sender learns
// it, buffered frames are discarded, and Done is closed.
func (c *Client) finish(cause error) {
	if !errors.Is(cause, ErrClosed) && !errors.Is(cause, ErrNotConnected) {
		cause = fmt.Errorf("%w: %w", ErrNotConnected, cause)
	}
	c.mu.Lock()
	if c.closing {
		cause = ErrClosed
	}
	c.err = cause
	waiters := c.waiters
	c.waiters = nil
	c.mu.Unlock()
	c.cancel()
	if n := c.out.end(); n > 0 {
		c.log.Warn("discarding frames that were never sent to the broker", "frames", n, "err", cause)
	}
	for _, w := range waiters {
		w.ch <- answer{err: cause}
	}
	c.setState(Closed, cause)
	close(c.done)
}
