package transport

import "net"

// A TryWriter writes to a connection without ever waiting for it: what the
// connection does not take at once is left to the caller. A broker uses it
// to send a few frames to an idle receiver straight from the goroutine that
// routed them, without waking that receiver's writer, and without letting a
// receiver that does not read hold that goroutine up.
//
// A TryWriter is not safe for concurrent use, and the caller must keep its
// other writes to the connection from overlapping with the TryWriter's.
type TryWriter struct {
	tryWriter // per platform
}

// NewTryWriter returns a TryWriter for c, or nil when c cannot be written
// to without waiting: a named pipe, or a connection of another kind than
// this package's Unix sockets.
func NewTryWriter(c net.Conn) *TryWriter {
	w := new(TryWriter)
	if !w.init(c) {
		return nil
	}
	return w
}

// Write writes as much of p as the connection takes without waiting and
// returns how much that was. An error is a failure of the connection; a
// full socket buffer is not one: n < len(p) with a nil error means "try
// later".
func (w *TryWriter) Write(p []byte) (n int, err error) { return w.write(p) }
