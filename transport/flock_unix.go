//go:build unix && !aix

package transport

import (
	"os"

	"golang.org/x/sys/unix"
)

// flockNonBlocking takes an exclusive flock on f or fails with EWOULDBLOCK.
// flock rather than fcntl locks: an fcntl lock is dropped when any
// descriptor of the file in the process is closed, and it never conflicts
// with another lock in the same process.
func flockNonBlocking(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lockErr error
	if err := rc.Control(func(fd uintptr) {
		lockErr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB)
	}); err != nil {
		return err
	}
	return lockErr
}
