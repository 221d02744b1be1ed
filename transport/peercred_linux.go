//go:build linux

package transport

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

func peerCredentials(rc syscall.RawConn) (PeerCredentials, error) {
	var (
		ucred   *unix.Ucred
		credErr error
		pidfd   = -1
	)
	err := rc.Control(func(fd uintptr) {
		ucred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if credErr != nil {
			return
		}
		// Kernels before 6.5 lack SO_PEERPIDFD. Then the executable is read
		// without the check in peerExecutable.
		if p, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PEERPIDFD); err == nil {
			pidfd = p
		}
	})
	if pidfd >= 0 {
		defer unix.Close(pidfd)
	}
	if err == nil {
		err = credErr
	}
	if err != nil {
		return PeerCredentials{}, fmt.Errorf("transport: SO_PEERCRED: %w", err)
	}
	creds := PeerCredentials{UID: ucred.Uid, GID: ucred.Gid, PID: ucred.Pid}
	if creds.PID > 0 {
		creds.Executable = peerExecutable(creds.PID, pidfd)
	}
	return creds, nil
}

// peerExecutable reads /proc/<pid>/exe. The PID is only a number. If the
// peer has exited and been reaped, the number may now belong to an
// unrelated process, and the link would be that process's. A pidfd refers
// to the peer itself, and signalling it fails with ESRCH once the peer has
// been reaped. So a signal that still succeeds after the read shows the
// link was the peer's. Signal 0 only checks; EPERM also means the process
// is still there.
func peerExecutable(pid int32, pidfd int) string {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(int(pid)) + "/exe")
	if err != nil {
		return ""
	}
	if pidfd >= 0 {
		if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil && !errors.Is(err, unix.EPERM) {
			return ""
		}
	}
	return exe
}
