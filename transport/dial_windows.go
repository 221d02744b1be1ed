//go:build windows

package transport

import (
	"context"
	"fmt"
	"net"
)

// Dial will connect to a broker's named pipe. It is not implemented yet
// and returns an error matching [errors.ErrUnsupported].
func Dial(ctx context.Context, endpoint string) (net.Conn, error) {
	return nil, fmt.Errorf("transport: dial %s: %w", endpoint, errNoNamedPipes)
}

// PeerCredentialsOf returns [ErrNoCredentials] on Windows for now. The
// named-pipe transport will report the client's process id and account.
func PeerCredentialsOf(conn net.Conn) (PeerCredentials, error) {
	return PeerCredentials{}, fmt.Errorf("%w: not implemented on windows", ErrNoCredentials)
}
