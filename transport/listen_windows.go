//go:build windows

package transport

import (
	"errors"
	"fmt"
	"net"
)

// errNoNamedPipes is what the Windows build returns until the named-pipe
// transport (built on go-winio) replaces these stubs.
var errNoNamedPipes = fmt.Errorf("transport: named pipe transport not yet available: %w", errors.ErrUnsupported)

// Listen will create a named pipe at endpoint. It is not implemented yet
// and returns an error matching [errors.ErrUnsupported].
func Listen(endpoint string, cfg *ListenConfig) (net.Listener, error) {
	return nil, fmt.Errorf("transport: listen on %s: %w", endpoint, errNoNamedPipes)
}
