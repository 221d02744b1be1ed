package broker

import (
	"errors"
	"os"
	"time"
)

// writeLoop drains the session's queue into the socket, batching everything
// queued into as few writes as possible. It closes the connection when the
// queue is closed and drained, or when a write fails or times out.
func (s *session) writeLoop() {
	defer close(s.writerDone)
	defer s.conn.Close()
	var buf []byte
	for range s.q.wake {
		for {
			batch, more, closed := s.q.take()
			var err error
			buf, err = s.writeBatch(buf[:0], batch)
			s.q.recycle(batch)
			if cap(buf) > keepBufferCap {
				buf = nil
			}
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					s.b.counters.writeTimeouts.Add(1)
				}
				s.log.Warn("write failed; closing session", "err", err, "write_timeout", s.b.cfg.WriteTimeout)
				return
			}
			if closed {
				return
			}
			if !more {
				break
			}
		}
	}
}

// writeBatch encodes batch into buf, writing whenever flushThreshold bytes
// are pending and once at the end.
func (s *session) writeBatch(buf []byte, batch *chunk) ([]byte, error) {
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
			if len(buf) >= flushThreshold {
				if err := s.write(buf); err != nil {
					return buf, err
				}
				buf = buf[:0]
			}
		}
	}
	s.delivered.Add(uint64(delivered))
	if len(buf) == 0 {
		return buf, nil
	}
	return buf, s.write(buf)
}

func (s *session) write(p []byte) error {
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.b.cfg.WriteTimeout)); err != nil {
		return err
	}
	n, err := s.conn.Write(p)
	s.bytesOut.Add(uint64(n))
	return err
}
