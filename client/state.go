package client

import (
	"errors"
	"fmt"
)

// State is where a Client is in its life.
type State int32

const (
	// Connecting: Dial is connecting for the first time. A Client is in
	// this state only until Dial returns it.
	Connecting State = iota
	// Connected: the client has a connection to the broker, and its
	// subscriptions have been re-established on it (or the broker did not
	// answer their re-establishment within Options.ReplyTimeout).
	Connected
	// Reconnecting: the connection was lost and the client is getting a
	// new one. Publishes are buffered meanwhile.
	Reconnecting
	// Closed: the client has ended, by Close or for a reason retrying
	// cannot fix; Err says which. Done is closed.
	Closed
)

func (s State) String() string {
	switch s {
	case Connecting:
		return "connecting"
	case Connected:
		return "connected"
	case Reconnecting:
		return "reconnecting"
	case Closed:
		return "closed"
	default:
		return fmt.Sprintf("State(%d)", int32(s))
	}
}

// stateEvent is a change of state waiting to be passed to OnStateChange.
type stateEvent struct {
	state State
	err   error
}

// State returns the client's current state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// setState records a change of state, logs it and queues it for
// OnStateChange. It does nothing when the state is already s. Not with c.mu
// held.
func (c *Client) setState(s State, cause error) {
	c.mu.Lock()
	if c.state == s {
		c.mu.Unlock()
		return
	}
	prev := c.state
	c.state = s
	if c.opts.OnStateChange != nil {
		if len(c.events) >= maxStateEvents {
			// A callback this far behind sees the latest changes; the
			// oldest are dropped rather than letting the queue grow.
			c.events = append(c.events[:0], c.events[1:]...)
		}
		c.events = append(c.events, stateEvent{s, cause})
	}
	c.mu.Unlock()
	select {
	case c.stateWake <- struct{}{}:
	default:
	}
	switch {
	case s == Connected && prev == Reconnecting:
		c.log.Info("reconnected to the broker", "session", c.SessionID())
	case s == Connected:
		c.log.Debug("connected to the broker", "session", c.SessionID())
	case s == Reconnecting:
		c.log.Warn("connection to the broker lost; reconnecting", "err", cause)
	case s == Closed && errors.Is(cause, ErrClosed):
		c.log.Debug("client closed")
	default:
		c.log.Warn("connection to the broker ended", "state", s, "err", cause)
	}
}

// maxStateEvents bounds the state changes waiting for OnStateChange.
const maxStateEvents = 64

// notifyLoop passes state changes to OnStateChange, in order, until the
// client has ended and its last change (Closed) was passed on.
func (c *Client) notifyLoop() {
	defer c.wg.Done()
	for {
		ended := false
		select {
		case <-c.stateWake:
		case <-c.done:
			ended = true // Closed was queued before done was closed
		}
		c.mu.Lock()
		events := c.events
		c.events = nil
		c.mu.Unlock()
		for _, e := range events {
			c.opts.OnStateChange(e.state, e.err)
		}
		if ended {
			return
		}
	}
}
