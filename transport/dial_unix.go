//go:build unix

package transport

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"syscall"
)

// Dial connects to the broker listening on endpoint. It gives up when ctx
// is done. The returned connection is a *net.UnixConn.
//
// When nobody is listening, the error says so and still matches
// [fs.ErrNotExist] (no socket file) or [syscall.ECONNREFUSED] (a socket left
// behind by a broker that is gone) with errors.Is.
func Dial(ctx context.Context, endpoint string) (net.Conn, error) {
	if looksLikePipe(endpoint) {
		return nil, pipeOnUnix(endpoint)
	}
	if err := checkEndpointLength(endpoint, 0); err != nil {
		return nil, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", endpoint)
	if err != nil {
		return nil, dialError(endpoint, err)
	}
	return c, nil
}

func dialError(endpoint string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("transport: no broker is listening at %s: %w", endpoint, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("transport: not permitted to connect to %s (see the mode and group of the socket and its directory): %w",
			endpoint, err)
	default:
		return fmt.Errorf("transport: dial %s: %w", endpoint, err)
	}
}
