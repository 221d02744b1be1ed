package client

import (
	"context"
	"fmt"
	"sync"
	"time"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// outbox holds encoded frames until the writer goroutine sends them. Senders
// encode straight into its buffer, so a publish costs no allocation of its
// own, and the writer sends everything pending in one write.
type outbox struct {
	c     *Client
	limit int
	wake  chan struct{} // capacity 1

	mu      sync.Mutex // guards the fields below
	buf     []byte
	spare   []byte
	room    chan struct{} // closed when the writer has taken the buffer
	stopped bool
	flushed chan struct{} // closed by the writer after its final flush
}

func newOutbox(c *Client, limit int) *outbox {
	return &outbox{c: c, limit: limit, wake: make(chan struct{}, 1), room: make(chan struct{}), flushed: make(chan struct{})}
}

// send encodes env into the buffer, waiting while it is full until ctx ends.
func (o *outbox) send(ctx context.Context, env *pb.Envelope) error {
	for {
		o.mu.Lock()
		if o.stopped || o.connEnded() {
			o.mu.Unlock()
			return o.c.stateErr()
		}
		if len(o.buf) < o.limit || len(o.buf) == 0 {
			err := o.appendLocked(env)
			o.mu.Unlock()
			if err == nil {
				o.signal()
			}
			return err
		}
		room := o.room
		o.mu.Unlock()
		select {
		case <-room:
		case <-o.c.done:
			return o.c.stateErr()
		case <-ctx.Done():
			return fmt.Errorf("client: outbound buffer full (%d bytes pending): %w", o.limit, ctx.Err())
		}
	}
}

// sendControl queues a small frame, such as a ping, past the buffer limit:
// such frames are few, and holding them back would make a busy connection
// look dead.
func (o *outbox) sendControl(env *pb.Envelope) error {
	o.mu.Lock()
	if o.stopped || o.connEnded() {
		o.mu.Unlock()
		return o.c.stateErr()
	}
	err := o.appendLocked(env)
	o.mu.Unlock()
	o.signal()
	return err
}

// appendLocked encodes env at the end of the buffer; o.mu must be held.
func (o *outbox) appendLocked(env *pb.Envelope) error {
	start := len(o.buf)
	buf, err := o.c.crc.AppendEnvelope(o.buf, env)
	if err != nil {
		o.buf = buf[:start]
		return err
	}
	if n := len(buf) - start - frameHeader; n > o.c.maxMsg {
		o.buf = buf[:start]
		return fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, o.c.maxMsg)
	}
	o.buf = buf
	return nil
}

// connEnded reports whether the connection has failed: the writer is gone,
// so a frame queued now would never be sent.
func (o *outbox) connEnded() bool {
	select {
	case <-o.c.done:
		return true
	default:
		return false
	}
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// take hands the writer the pending bytes.
func (o *outbox) take() (pending []byte, stopped bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	pending, o.buf = o.buf, o.spare[:0]
	o.spare = nil
	close(o.room)
	o.room = make(chan struct{})
	return pending, o.stopped
}

func (o *outbox) recycle(b []byte) {
	o.mu.Lock()
	if cap(b) <= 2*o.limit {
		o.spare = b[:0]
	}
	o.mu.Unlock()
}

func (o *outbox) writeLoop() {
	defer o.c.wg.Done()
	defer close(o.flushed)
	for {
		select {
		case <-o.wake:
		case <-o.c.done:
			return
		}
		pending, stopped := o.take()
		if len(pending) > 0 {
			if err := o.write(pending); err != nil {
				o.c.fail(fmt.Errorf("write: %w", err))
				return
			}
		}
		o.recycle(pending)
		if stopped {
			return
		}
	}
}

func (o *outbox) write(p []byte) error {
	if err := o.c.conn.SetWriteDeadline(time.Now().Add(o.c.opts.WriteTimeout)); err != nil {
		return err
	}
	_, err := o.c.conn.Write(p)
	return err
}

// flushAndStop refuses further frames and waits until the writer has sent
// what is pending, or failed to.
func (o *outbox) flushAndStop() {
	o.mu.Lock()
	o.stopped = true
	o.mu.Unlock()
	o.signal()
	select {
	case <-o.flushed:
	case <-o.c.done:
	}
}
