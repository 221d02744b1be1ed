//go:build unix

package transport

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

func TestListenConcurrent(t *testing.T) {
	ep := newEndpoint(t)
	const n = 8
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		listeners []net.Listener
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := Listen(ep, nil)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if !errors.Is(err, ErrInUse) {
					t.Errorf("Listen: %v, want success or ErrInUse", err)
				}
				return
			}
			listeners = append(listeners, l)
		}()
	}
	wg.Wait()
	if len(listeners) != 1 {
		t.Fatalf("%d listeners succeeded, want exactly 1", len(listeners))
	}
	t.Cleanup(func() { listeners[0].Close() })
	roundTrip(t, listeners[0], ep)
}

func TestLockFileIsCloseOnExec(t *testing.T) {
	l := mustListen(t, newEndpoint(t), nil).(*listener)
	rc, err := l.lock.f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	var fcntlErr error
	if err := rc.Control(func(fd uintptr) {
		flags, fcntlErr = unix.FcntlInt(fd, unix.F_GETFD, 0)
	}); err != nil {
		t.Fatal(err)
	}
	if fcntlErr != nil {
		t.Fatal(fcntlErr)
	}
	if flags&unix.FD_CLOEXEC == 0 {
		t.Error("lock file descriptor lacks FD_CLOEXEC")
	}
}

// A lock file planted by another user, who could hold it open and take the
// lock at will, is refused.
func TestListenRefusesForeignLockFile(t *testing.T) {
	requireRoot(t)
	ep := newEndpoint(t)
	if err := os.MkdirAll(filepath.Dir(ep), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lockPath(ep), nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(lockPath(ep), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	l, err := Listen(ep, nil)
	if err == nil {
		l.Close()
		t.Fatal("Listen used a lock file owned by uid 65534")
	}
	if !strings.Contains(err.Error(), "not private") {
		t.Errorf("Listen: %v", err)
	}
}

// acquireLock must notice when the lock file it locked has been unlinked
// by a broker closing in the meantime.
func TestLockNoticesUnlinkedFile(t *testing.T) {
	ep := newEndpoint(t)
	if err := os.MkdirAll(filepath.Dir(ep), 0o700); err != nil {
		t.Fatal(err)
	}
	lk, err := acquireLock(ep)
	if err != nil {
		t.Fatal(err)
	}
	// Simulate the race: unlink our file, as a closing broker would have
	// done to the file a competitor had just opened.
	if err := os.Remove(lk.path); err != nil {
		t.Fatal(err)
	}
	if linked, err := lk.linked(); err != nil || linked {
		t.Fatalf("linked() = %v, %v after unlink", linked, err)
	}
	// With our lock now on an orphaned inode, a new broker gets the path.
	other, err := acquireLock(ep)
	if err != nil {
		t.Fatalf("acquireLock after unlink: %v", err)
	}
	if err := lk.release(); err != nil {
		t.Fatal(err)
	}
	// Releasing the orphan must not remove the new owner's lock file.
	if _, err := os.Lstat(other.path); err != nil {
		t.Errorf("release removed another lock file: %v", err)
	}
	if err := other.release(); err != nil {
		t.Fatal(err)
	}
}
