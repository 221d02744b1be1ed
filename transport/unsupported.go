//go:build !unix && !windows

package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
)

// This file keeps the package building on platforms with no local IPC
// transport (js, wasip1, plan9), so that code importing it still compiles
// there.

var errNoTransport = fmt.Errorf("transport: no local transport on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// DefaultEndpoint returns "" because this platform has no endpoints.
func DefaultEndpoint() string { return "" }

// Listen returns an error matching [errors.ErrUnsupported].
func Listen(endpoint string, cfg *ListenConfig) (net.Listener, error) {
	return nil, errNoTransport
}

// Dial returns an error matching [errors.ErrUnsupported].
func Dial(ctx context.Context, endpoint string) (net.Conn, error) {
	return nil, errNoTransport
}

// PeerCredentialsOf returns [ErrNoCredentials].
func PeerCredentialsOf(conn net.Conn) (PeerCredentials, error) {
	return PeerCredentials{}, fmt.Errorf("%w on %s", ErrNoCredentials, runtime.GOOS)
}
