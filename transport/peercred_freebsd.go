//go:build freebsd

package transport

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// peerCredentials uses LOCAL_PEERCRED. FreeBSD 13 and later put the peer's
// PID in struct xucred, in a union that x/sys leaves as an unnamed field.
// Reading it would take package unsafe, so PID stays 0 and Executable "".
func peerCredentials(rc syscall.RawConn) (PeerCredentials, error) {
	var (
		xucred  *unix.Xucred
		credErr error
	)
	err := rc.Control(func(fd uintptr) {
		xucred, credErr = unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	})
	if err == nil {
		err = credErr
	}
	if err != nil {
		return PeerCredentials{}, fmt.Errorf("transport: LOCAL_PEERCRED: %w", err)
	}
	return fromXucred(xucred, 0)
}
