package broker

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// Whoever writes to a session's connection holds session.writing: its
// writer goroutine, or a router writing directly (writeNow). Neither waits
// for the other: the writer goroutine skips a wake-up while a router
// writes, and a router that leaves anything behind wakes it again.

// Bounds of a direct write: a few frames for an idle receiver. A backlog is
// left to the receiver's writer goroutine, which runs in parallel with the
// router.
const (
	maxDirectEntries = 16
	maxDirectBytes   = 64 << 10
)

// writeLoop drains the session's queue into the socket, batching what is
// queued into as few writes as possible. It closes the connection when the
// queue is closed and drained, or when a write fails or times out; a write
// that times out ends the session with reason "write".
func (s *session) writeLoop() {
	defer close(s.writerDone)
	defer s.conn.Close()
	var buf []byte
	for range s.q.wake {
		if !s.writing.CompareAndSwap(false, true) {
			continue // a router is writing; it wakes us if it leaves anything
		}
		closed, err := s.drain(&buf)
		s.writing.Store(false)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				s.b.counters.writeTimeouts.Add(1)
				// The peer is connected but not reading. Without this
				// cause the reader would see only the connection closed
				// below and report the session as closed, and a stuck
				// client would look like one that went away. Other write
				// errors come from either end closing the connection,
				// which the reader reports itself.
				s.kick(endCause{reason: "write", err: fmt.Errorf(
					"broker: a write to the connection did not complete within %v: %w", s.b.cfg.WriteTimeout, err)})
			}
			s.log.Warn("write failed; closing session", "err", err, "write_timeout", s.b.cfg.WriteTimeout)
			return
		}
		if closed {
			return
		}
	}
}

// drain writes what a direct write left over, then everything queued, one
// bounded take at a time. s.writing must be held.
func (s *session) drain(buf *[]byte) (closed bool, err error) {
	if len(s.pending) > 0 {
		if err := s.write(s.pending); err != nil {
			return false, err
		}
		s.pending = nil
	}
	for {
		batch, more, closed := s.q.take()
		*buf, err = s.writeBatch((*buf)[:0], batch)
		s.q.recycle(batch)
		if cap(*buf) > keepBufferCap {
			*buf = nil
		}
		if err != nil || closed || !more {
			return closed, err
		}
	}
}

// writeNow implements directWriter.
func (s *session) writeNow() bool {
	if !s.writing.CompareAndSwap(false, true) {
		return false
	}
	done := s.writeFew()
	s.writing.Store(false)
	// Checked after letting go, so that what was queued meanwhile is
	// either seen here or finds the writer goroutine free.
	return done && !s.q.busy()
}

// writeFew writes the queue if it holds only a few frames, as far as the
// socket takes them without waiting. It reports whether it wrote them all;
// what the socket did not take becomes pending, for the writer goroutine.
// s.writing must be held.
func (s *session) writeFew() bool {
	if len(s.pending) > 0 {
		return false
	}
	batch, ok := s.q.takeFew(maxDirectEntries, maxDirectBytes)
	if !ok {
		return false
	}
	buf, _ := s.appendBatch(s.direct[:0], batch, false)
	s.q.recycle(batch)
	// A failed connection is left to the writer goroutine too: its own
	// write of the rest fails the same way and ends the session.
	n, _ := s.tw.Write(buf)
	s.bytesOut.Add(uint64(n))
	if n < len(buf) {
		// The writer goroutine writes the rest, waiting as long as the
		// write timeout allows.
		s.pending = buf[n:]
		s.direct = nil
		return false
	}
	if cap(buf) <= keepBufferCap {
		s.direct = buf
	}
	return true
}

// writeBatch encodes batch into buf, writing whenever flushThreshold bytes
// are pending and once at the end.
func (s *session) writeBatch(buf []byte, batch *chunk) ([]byte, error) {
	buf, err := s.appendBatch(buf, batch, true)
	if err != nil || len(buf) == 0 {
		return buf, err
	}
	return buf, s.write(buf)
}

// appendBatch appends the frames of batch to buf and counts the events
// delivered. With flush, it writes buf out whenever flushThreshold bytes
// are pending.
func (s *session) appendBatch(buf []byte, batch *chunk, flush bool) ([]byte, error) {
	delivered := 0
	for c := batch; c != nil; c = c.next {
		for i := range c.entries() {
			it := &c.items[i]
			if it.control != nil {
				buf = append(buf, it.control...)
			} else {
				buf = s.crc.AppendDeliveryFrame(buf, it.ev.frame, it.ev.sum, it.sids, it.dropped)
				delivered++
			}
			if flush && len(buf) >= flushThreshold {
				if err := s.write(buf); err != nil {
					s.delivered.Add(uint64(delivered))
					return buf, err
				}
				buf = buf[:0]
			}
		}
	}
	s.delivered.Add(uint64(delivered))
	return buf, nil
}

func (s *session) write(p []byte) error {
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.b.cfg.WriteTimeout)); err != nil {
		return err
	}
	n, err := s.conn.Write(p)
	s.bytesOut.Add(uint64(n))
	return err
}
