//go:build unix

package transport

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestListenCreatesParents(t *testing.T) {
	ep := filepath.Join(tempDir(t), "a", "b", "bus.sock")
	mustListen(t, ep, &ListenConfig{})
	wantMode(t, filepath.Dir(ep), fs.ModeDir, 0o700)
}

func TestListenGroupChangesDirectoryGroup(t *testing.T) {
	requireRoot(t)
	ep := newEndpoint(t)
	mustListen(t, ep, &ListenConfig{SocketMode: 0o660, Group: "65534"}).Close()
	_, st := statT(t, filepath.Dir(ep))
	if st.Gid != 65534 {
		t.Errorf("directory gid = %d, want 65534", st.Gid)
	}
	// Back to the defaults: the now empty directory is tightened again.
	mustListen(t, ep, nil)
	wantMode(t, filepath.Dir(ep), fs.ModeDir, 0o700)
}

func TestListenForeignDirectory(t *testing.T) {
	requireRoot(t)
	ep := newEndpoint(t)
	dir := filepath.Dir(ep)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	l, err := Listen(ep, nil)
	if err == nil {
		l.Close()
		t.Fatal("Listen accepted a directory owned by uid 65534")
	}
	if !errors.Is(err, ErrInsecureDirectory) || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Errorf("Listen: %v, want ErrInsecureDirectory naming the owner", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("Listen wrote into someone else's directory: %v", entries)
	}
	if _, st := statT(t, dir); st.Uid != 65534 {
		t.Errorf("directory owner changed to %d", st.Uid)
	}
}

func TestListenSymlinkDirectory(t *testing.T) {
	base := tempDir(t)
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	l, err := Listen(filepath.Join(base, "link", "bus.sock"), nil)
	if err == nil {
		l.Close()
		t.Fatal("Listen accepted a symlinked directory")
	}
	if !errors.Is(err, ErrInsecureDirectory) || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("Listen: %v, want ErrInsecureDirectory about the symlink", err)
	}
}

func TestListenDirectoryIsFile(t *testing.T) {
	base := tempDir(t)
	if err := os.WriteFile(filepath.Join(base, "bus"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Listen(filepath.Join(base, "bus", "bus.sock"), nil)
	if err == nil {
		t.Fatal("Listen succeeded under a regular file")
	}
}

func TestListenTightensDedicatedDirectory(t *testing.T) {
	ep := newEndpoint(t)
	dir := filepath.Dir(ep)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	// A socket and lock from a previous run still count as the endpoint's.
	leaveStaleSocket(t, ep)
	if err := os.WriteFile(lockPath(ep), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	mustListen(t, ep, nil)
	wantMode(t, dir, fs.ModeDir, 0o700)
}

// A root broker given /run/bus.sock or /tmp/bus.sock must not chmod /run
// or /tmp; any directory that holds unrelated files is left as it is.
func TestListenLeavesSharedDirectory(t *testing.T) {
	for _, mode := range []os.FileMode{0o755, 0o777 | os.ModeSticky} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := tempDir(t)
			if err := os.WriteFile(filepath.Join(dir, "other"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, mode); err != nil {
				t.Fatal(err)
			}
			ep := filepath.Join(dir, "bus.sock")
			l, err := Listen(ep, nil)
			if err == nil {
				l.Close()
				t.Fatal("Listen accepted a shared directory")
			}
			if !errors.Is(err, ErrInsecureDirectory) || !strings.Contains(err.Error(), "dedicated") {
				t.Errorf("Listen: %v, want ErrInsecureDirectory suggesting a dedicated directory", err)
			}
			if fi, _ := statT(t, dir); fi.Mode()&(os.ModePerm|os.ModeSticky) != mode {
				t.Errorf("directory mode changed to %v", fi.Mode())
			}
			if _, err := os.Lstat(ep); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("socket created: %v", err)
			}
		})
	}
}

// A directory that is already private is used even with other files in it.
func TestListenUsesPrivateSharedDirectory(t *testing.T) {
	dir := tempDir(t)
	if err := os.WriteFile(filepath.Join(dir, "other"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ep := filepath.Join(dir, "bus.sock")
	roundTrip(t, mustListen(t, ep, nil), ep)
}
