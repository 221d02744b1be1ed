package client

import (
	"context"
	"fmt"
	"sync"
	"time"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// frameClass says what becomes of a queued frame when its connection fails.
type frameClass uint8

const (
	// classData frames (publishes, requests, replies) belong to no
	// connection: they stay queued across reconnections and are written to
	// whichever connection comes next.
	classData frameClass = iota
	// classSession frames (subscription changes, pings, pongs) only make
	// sense on the connection they were queued for, and are dropped when
	// another one takes over. Subscriptions are re-established by the
	// reconnection itself.
	classSession
)

// frameRec describes one frame in the outbox.
type frameRec struct {
	size  int // header included
	class frameClass
	epoch uint64  // classSession: the connection it was queued for
	key   waitKey // classData: the answer someone awaits, if any
}

// outbox holds encoded frames until a connection's writer goroutine sends
// them, in order. Senders encode straight into its buffer, so a publish costs
// no allocation of its own, and the writer sends everything pending in one
// write. It outlives connections: what is not written when one fails goes
// to the next.
//
// The bounds count every frame not yet written: queued, or taken by the
// writer and being written.
type outbox struct {
	c        *Client
	maxBytes int
	maxMsgs  int
	whenFull WhenFull
	wake     chan struct{} // capacity 1

	mu        sync.Mutex // guards the fields below
	buf       []byte
	recs      []frameRec // one per frame in buf, in order
	flyBytes  int        // taken by the writer, not yet written
	flyMsgs   int
	spareBuf  []byte
	spareRecs []frameRec
	room      chan struct{} // closed and replaced whenever room is made or the outbox stops
	stopped   bool          // Close: no new frames; what is queued is still written
	ended     bool          // the client has ended: nothing will be written
}

func newOutbox(c *Client) *outbox {
	return &outbox{
		c:        c,
		maxBytes: c.opts.MaxPendingBytes,
		maxMsgs:  c.opts.MaxPendingMessages,
		whenFull: c.opts.WhenFull,
		wake:     make(chan struct{}, 1),
		room:     make(chan struct{}),
	}
}

// send encodes a data frame into the buffer. When the buffer is full it
// waits for room until ctx ends (Block) or fails at once (FailFast). key
// names the answer the caller awaits, if any.
func (o *outbox) send(ctx context.Context, env *pb.Envelope, key waitKey) error {
	return o.sendFrame(ctx, func(dst []byte) ([]byte, error) { return o.c.crc.AppendEnvelope(dst, env) }, key)
}

// frameEncoder appends one complete frame to dst.
type frameEncoder func(dst []byte) ([]byte, error)

// sendFrame is send for a frame that enc encodes: publishes are encoded by
// hand, without building protobuf structs.
func (o *outbox) sendFrame(ctx context.Context, enc frameEncoder, key waitKey) error {
	for {
		o.mu.Lock()
		if o.stopped || o.ended {
			o.mu.Unlock()
			return o.c.stateErr()
		}
		start := len(o.buf)
		if err := o.appendLocked(enc, frameRec{class: classData, key: key}); err != nil {
			o.mu.Unlock()
			return err
		}
		if o.fitsLocked(len(o.buf) - start) {
			o.mu.Unlock()
			o.signal()
			return nil
		}
		o.buf, o.recs = o.buf[:start], o.recs[:len(o.recs)-1]
		msgs, bytes := len(o.recs)+o.flyMsgs, len(o.buf)+o.flyBytes
		room := o.room
		o.mu.Unlock()
		if o.whenFull == FailFast {
			return fmt.Errorf("%w (%d messages, %d bytes pending)", ErrBufferFull, msgs, bytes)
		}
		select {
		case <-room:
		case <-ctx.Done():
			return fmt.Errorf("%w (%d messages, %d bytes pending): %w", ErrBufferFull, msgs, bytes, ctx.Err())
		}
	}
}

// fitsLocked reports whether the last frame, of n bytes, keeps the buffer
// within its bounds; o.mu must be held. A frame always fits an empty buffer.
func (o *outbox) fitsLocked(n int) bool {
	before := len(o.buf) - n + o.flyBytes
	return len(o.recs)-1+o.flyMsgs < o.maxMsgs && (before == 0 || before+n <= o.maxBytes)
}

// sendSession queues a frame for connection epoch, past the bounds: such
// frames are few and small, and holding back a ping would make a busy
// connection look dead.
func (o *outbox) sendSession(env *pb.Envelope, epoch uint64) error {
	o.mu.Lock()
	if o.stopped || o.ended {
		o.mu.Unlock()
		return o.c.stateErr()
	}
	err := o.appendLocked(func(dst []byte) ([]byte, error) { return o.c.crc.AppendEnvelope(dst, env) },
		frameRec{class: classSession, epoch: epoch})
	o.mu.Unlock()
	o.signal()
	return err
}

// prependSession puts frames for connection epoch in front of everything
// queued: the subscriptions a new connection re-establishes before the
// buffered publishes are sent.
func (o *outbox) prependSession(envs []*pb.Envelope, epoch uint64) {
	var buf []byte
	recs := make([]frameRec, 0, len(envs))
	for _, env := range envs {
		start := len(buf)
		var err error
		if buf, err = o.c.crc.AppendEnvelope(buf, env); err != nil {
			buf = buf[:start] // cannot happen with a valid subscription
			continue
		}
		recs = append(recs, frameRec{size: len(buf) - start, class: classSession, epoch: epoch})
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.stopped || o.ended {
		return
	}
	o.buf = append(buf, o.buf...)
	o.recs = append(recs, o.recs...)
}

// appendLocked encodes a frame at the end of the buffer; o.mu must be held.
func (o *outbox) appendLocked(enc frameEncoder, rec frameRec) error {
	start := len(o.buf)
	buf, err := enc(o.buf)
	if err != nil {
		o.buf = buf[:start]
		return err
	}
	limit := int(o.c.maxMsg.Load())
	if n := len(buf) - start - frameHeader; n > limit {
		o.buf = buf[:start]
		return fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, limit)
	}
	o.buf = buf
	rec.size = len(buf) - start
	o.recs = append(o.recs, rec)
	return nil
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// makeRoomLocked wakes whoever waits for room; o.mu must be held.
func (o *outbox) makeRoomLocked() {
	close(o.room)
	o.room = make(chan struct{})
}

// compactLocked removes the frames keep refuses and returns them; o.mu must
// be held.
func (o *outbox) compactLocked(keep func(frameRec) bool) (removed []frameRec) {
	w, from, to := 0, 0, 0
	for _, r := range o.recs {
		if keep(r) {
			if to != from {
				copy(o.buf[to:], o.buf[from:from+r.size])
			}
			o.recs[w] = r
			w++
			to += r.size
		} else {
			removed = append(removed, r)
		}
		from += r.size
	}
	if len(removed) > 0 {
		o.buf, o.recs = o.buf[:to], o.recs[:w]
		o.makeRoomLocked()
	}
	return removed
}

// take hands the writer of connection l everything queued, less the
// session frames of other connections and the data frames above l's frame
// limit, which it returns as dropped.
func (o *outbox) take(l *link) (batch []byte, recs, dropped []frameRec) {
	o.mu.Lock()
	defer o.mu.Unlock()
	removed := o.compactLocked(func(r frameRec) bool {
		if r.class == classSession {
			return r.epoch == l.epoch
		}
		return r.size-frameHeader <= l.maxMsg
	})
	for _, r := range removed {
		if r.class == classData {
			dropped = append(dropped, r)
		}
	}
	batch, recs = o.buf, o.recs
	o.buf, o.recs = o.spareBuf[:0], o.spareRecs[:0]
	o.spareBuf, o.spareRecs = nil, nil
	o.flyBytes, o.flyMsgs = len(batch), len(recs)
	return batch, recs, dropped
}

// written accounts for the write of the first n bytes of a batch from take.
// Frames not entirely written go back in front of the queue, to be written
// again, whole, on the next connection. It appends to keys the answers
// awaited for the frames that were written, and returns them.
func (o *outbox) written(batch []byte, recs []frameRec, n int, keys []waitKey) []waitKey {
	o.mu.Lock()
	defer o.mu.Unlock()
	off, i := 0, 0
	for ; i < len(recs) && off+recs[i].size <= n; i++ {
		if recs[i].key != (waitKey{}) {
			keys = append(keys, recs[i].key)
		}
		off += recs[i].size
	}
	switch {
	case o.ended:
		o.buf, o.recs = nil, nil
	case i < len(recs):
		o.buf = append(append(make([]byte, 0, len(batch)-off+len(o.buf)), batch[off:]...), o.buf...)
		o.recs = append(append(make([]frameRec, 0, len(recs)-i+len(o.recs)), recs[i:]...), o.recs...)
	case cap(batch) <= 2*o.maxBytes:
		o.spareBuf, o.spareRecs = batch[:0], recs[:0]
	}
	o.flyBytes, o.flyMsgs = 0, 0
	o.makeRoomLocked()
	return keys
}

// withdraw removes the queued data frame awaited under key, reporting
// whether it was still queued (and so never written).
func (o *outbox) withdraw(key waitKey) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.compactLocked(func(r frameRec) bool { return r.key != key })) > 0
}

// dropSession removes the queued session frames: their connection has
// failed.
func (o *outbox) dropSession() {
	o.mu.Lock()
	o.compactLocked(func(r frameRec) bool { return r.class == classData })
	o.mu.Unlock()
}

// stop refuses further frames (Close); what is queued is still written.
func (o *outbox) stop() {
	o.mu.Lock()
	o.stopped = true
	o.makeRoomLocked()
	o.mu.Unlock()
}

// end refuses further frames and discards the queued ones, returning how
// many there were: the client has ended.
func (o *outbox) end() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := len(o.recs)
	o.ended = true
	o.buf, o.recs = nil, nil
	o.makeRoomLocked()
	return n
}

// waitDrained waits until everything queued has been written, or done is
// closed.
func (o *outbox) waitDrained(done <-chan struct{}) {
	for {
		o.mu.Lock()
		empty := len(o.recs) == 0 && o.flyMsgs == 0
		room := o.room
		o.mu.Unlock()
		if empty {
			return
		}
		o.signal()
		select {
		case <-room:
		case <-done:
			return
		}
	}
}

// writeLoop writes what is queued to connection l until l fails.
func (o *outbox) writeLoop(l *link) {
	defer l.wg.Done()
	var keys []waitKey
	for {
		select {
		case <-o.wake:
		case <-l.done:
			return
		}
		batch, recs, dropped := o.take(l)
		if len(dropped) > 0 {
			o.c.dropOversize(dropped, l.maxMsg)
		}
		var n int
		var err error
		if len(batch) > 0 {
			n, err = o.write(l, batch)
		}
		keys = o.written(batch, recs, n, keys[:0])
		o.c.markWritten(keys)
		if err != nil {
			l.fail(fmt.Errorf("write: %w", err))
			return
		}
	}
}

func (o *outbox) write(l *link, p []byte) (int, error) {
	if err := l.conn.SetWriteDeadline(time.Now().Add(o.c.opts.WriteTimeout)); err != nil {
		return 0, err
	}
	return l.conn.Write(p)
}
