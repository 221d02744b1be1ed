//go:build unix

package transport

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// lockAttempts bounds how often acquireLock starts over when the lock file
// is replaced under it. Each retry needs another broker to finish closing
// in between, so a handful is plenty.
const lockAttempts = 8

// endpointLock is an exclusive flock on <endpoint>.lock, held for as long as
// a listener owns the endpoint.
type endpointLock struct {
	f    *os.File
	path string
}

// acquireLock takes the endpoint's lock without waiting. It returns
// ErrInUse if another process holds it.
//
// release unlinks the file before unlocking it. A competitor that opened the
// file just before that can then lock an inode that no longer has a name.
// It would share the endpoint with whoever creates the next lock file. So
// after locking, acquireLock checks that the path still leads to the locked
// inode, and starts over if not.
func acquireLock(endpoint string) (*endpointLock, error) {
	path := lockPath(endpoint)
	for range lockAttempts {
		// os.OpenFile always adds O_CLOEXEC. Saying it here as well keeps
		// the lock from leaking into child processes should that change.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return nil, fmt.Errorf("transport: opening lock file: %w", err)
		}
		if err := flockNonBlocking(f); err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, inUse(endpoint)
			}
			return nil, fmt.Errorf("transport: locking %s: %w", path, err)
		}
		l := &endpointLock{f: f, path: path}
		linked, err := l.linked()
		if err != nil {
			f.Close()
			return nil, err
		}
		if linked {
			if err := l.checkOwner(); err != nil {
				f.Close()
				return nil, err
			}
			return l, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("transport: lock file %s kept being replaced while locking it", path)
}

// linked reports whether the lock's path still names the locked inode.
func (l *endpointLock) linked() (bool, error) {
	held, err := l.f.Stat()
	if err != nil {
		return false, fmt.Errorf("transport: lock file: %w", err)
	}
	named, err := os.Lstat(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("transport: lock file: %w", err)
	}
	return os.SameFile(held, named), nil
}

// checkOwner refuses a lock file that another user created. That user may
// keep it open and take the lock whenever it likes. It can only happen if
// the directory was open to others before Listen tightened it, or if a root
// broker uses a directory that another user's broker set up.
func (l *endpointLock) checkOwner() error {
	fi, err := l.f.Stat()
	if err != nil {
		return fmt.Errorf("transport: lock file: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int64(st.Uid) != int64(os.Geteuid()) || fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("transport: lock file %s is not private to this user (mode %v); remove it if no broker is running",
			l.path, fi.Mode().Perm())
	}
	return nil
}

// release removes the lock file and then unlocks it, in that order.
func (l *endpointLock) release() error {
	var errs []error
	if linked, err := l.linked(); err != nil {
		errs = append(errs, err)
	} else if linked {
		if err := os.Remove(l.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("transport: removing lock file: %w", err))
		}
	}
	if err := l.f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("transport: closing lock file: %w", err))
	}
	return errors.Join(errs...)
}
