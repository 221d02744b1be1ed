//go:build unix && !linux && !darwin && !freebsd

package transport

import (
	"fmt"
	"runtime"
	"syscall"
)

// peerCredentials is not implemented here yet. The other Unixes each have
// their own interface (SO_PEERCRED with a different struct on OpenBSD,
// LOCAL_PEEREID on NetBSD, getpeerucred on illumos).
func peerCredentials(syscall.RawConn) (PeerCredentials, error) {
	return PeerCredentials{}, fmt.Errorf("%w on %s", ErrNoCredentials, runtime.GOOS)
}
