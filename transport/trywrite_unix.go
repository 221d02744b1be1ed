//go:build unix

package transport

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

type tryWriter struct {
	rc syscall.RawConn
	// The arguments and results of the Write in progress, and attempt
	// bound once, so that a Write allocates nothing.
	p       []byte
	n       int
	err     error
	attempt func(fd uintptr)
}

func (w *tryWriter) init(c net.Conn) bool {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return false
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return false
	}
	w.rc = rc
	w.attempt = w.writeNow
	return true
}

func (w *tryWriter) write(p []byte) (int, error) {
	w.p, w.n, w.err = p, 0, nil
	// Control, not Write: RawConn.Write fails once a write deadline set
	// for the connection's blocking writes has passed, and a write that
	// never waits needs no deadline. The caller keeps writes from
	// overlapping, so Write's lock is not needed either.
	if err := w.rc.Control(w.attempt); err != nil && w.err == nil {
		w.err = err
	}
	n, err := w.n, w.err
	w.p, w.err = nil, nil
	return n, err
}

// writeNow writes until the socket buffer is full; the descriptor is in
// non-blocking mode, as the runtime's network poller keeps it.
func (w *tryWriter) writeNow(fd uintptr) {
	for w.n < len(w.p) {
		m, err := unix.Write(int(fd), w.p[w.n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			if !errors.Is(err, unix.EAGAIN) {
				w.err = err
			}
			return
		}
		if m <= 0 {
			return
		}
		w.n += m
	}
}
