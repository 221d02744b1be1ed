//go:build unix

package transport

import (
	"fmt"
	"net"
)

// PeerCredentialsOf reports who is at the other end of conn. conn must be a
// *net.UnixConn, as returned by the Listener from [Listen] or by [Dial].
// Anything else gives [ErrNoCredentials].
//
// Call it right after Accept: Executable is read at the time of the call,
// not at connect time.
func PeerCredentialsOf(conn net.Conn) (PeerCredentials, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok || uc == nil {
		return PeerCredentials{}, fmt.Errorf("%w: %T is not a Unix domain socket connection", ErrNoCredentials, conn)
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return PeerCredentials{}, fmt.Errorf("transport: peer credentials: %w", err)
	}
	return peerCredentials(rc)
}
