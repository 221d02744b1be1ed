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
	attempt func(fd uintptr) bool
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
	if err := w.rc.Write(w.attempt); err != nil && w.err == nil {
		w.err = err
	}
	n, err := w.n, w.err
	w.p, w.err = nil, nil
	return n, err
}

// writeNow writes until the socket buffer is full. It always reports done:
// reporting not done would make RawConn wait for the socket, which is what
// a TryWriter exists to avoid.
func (w *tryWriter) writeNow(fd uintptr) bool {
	for w.n < len(w.p) {
		m, err := unix.Write(int(fd), w.p[w.n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			if !errors.Is(err, unix.EAGAIN) {
				w.err = err
			}
			return true
		}
		if m <= 0 {
			return true
		}
		w.n += m
	}
	return true
}
