//go:build !unix

package transport

import (
	"errors"
	"net"
)

// Named pipes have no non-blocking write in Go's runtime; NewTryWriter
// returns nil and writers wait as usual.
type tryWriter struct{}

func (w *tryWriter) init(net.Conn) bool { return false }

func (w *tryWriter) write([]byte) (int, error) { return 0, errors.ErrUnsupported }
