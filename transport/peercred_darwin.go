//go:build darwin

package transport

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// peerCredentials uses LOCAL_PEERCRED for the ids and LOCAL_PEERPID for the
// process. Executable stays "": finding it would need libproc, which x/sys
// does not wrap.
func peerCredentials(rc syscall.RawConn) (PeerCredentials, error) {
	var (
		xucred  *unix.Xucred
		pid     int
		credErr error
	)
	err := rc.Control(func(fd uintptr) {
		xucred, credErr = unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
		if credErr != nil {
			return
		}
		// Best effort: a missing PID is reported as 0, not as a failure.
		if p, err := unix.GetsockoptInt(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERPID); err == nil {
			pid = p
		}
	})
	if err == nil {
		err = credErr
	}
	if err != nil {
		return PeerCredentials{}, fmt.Errorf("transport: LOCAL_PEERCRED: %w", err)
	}
	return fromXucred(xucred, int32(pid))
}
