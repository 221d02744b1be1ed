//go:build unix

package transport

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// newEndpoint returns an endpoint in a socket directory that does not exist
// yet, so that Listen creates it.
func newEndpoint(t *testing.T) string {
	t.Helper()
	return filepath.Join(tempDir(t), "bus", "bus.sock")
}

// tempDir is t.TempDir unless that is too long to hold socket paths, as it
// can be on macOS.
func tempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if len(dir) <= maxSocketPath/2 {
		return dir
	}
	dir, err := os.MkdirTemp("/tmp", "eventbus-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func mustListen(t *testing.T, endpoint string, cfg *ListenConfig) net.Listener {
	t.Helper()
	l, err := Listen(endpoint, cfg)
	if err != nil {
		t.Fatalf("Listen(%s): %v", endpoint, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// roundTrip dials endpoint, accepts on l, and sends a message each way.
// It returns both ends for further checks.
func roundTrip(t *testing.T, l net.Listener, endpoint string) (server, client net.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := l.Accept()
		ch <- accepted{c, err}
	}()
	client, err := Dial(ctx, endpoint)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	a := <-ch
	if a.err != nil {
		t.Fatalf("Accept: %v", a.err)
	}
	server = a.c
	t.Cleanup(func() { server.Close() })
	exchange(t, client, server, "hello broker")
	exchange(t, server, client, "hello collector")
	return server, client
}

func exchange(t *testing.T, from, to net.Conn, msg string) {
	t.Helper()
	if _, err := from.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	to.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(to, buf); err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(buf) != msg {
		t.Fatalf("read %q, want %q", buf, msg)
	}
}

func statT(t *testing.T, path string) (os.FileInfo, *syscall.Stat_t) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi, fi.Sys().(*syscall.Stat_t)
}

func wantMode(t *testing.T, path string, typ, perm os.FileMode) {
	t.Helper()
	fi, _ := statT(t, path)
	if fi.Mode().Type() != typ || fi.Mode().Perm() != perm {
		t.Errorf("%s: mode %v, want type %v perm %04o", path, fi.Mode(), typ, perm)
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create files owned by another user")
	}
}

func TestListenDialRoundTrip(t *testing.T) {
	ep := newEndpoint(t)
	l := mustListen(t, ep, nil)
	if got := l.Addr().String(); got != ep {
		t.Errorf("Addr = %q, want %q", got, ep)
	}
	if l.Addr().Network() != "unix" {
		t.Errorf("Addr network = %q", l.Addr().Network())
	}
	server, client := roundTrip(t, l, ep)
	if _, ok := server.(*net.UnixConn); !ok {
		t.Errorf("Accept returned %T, want *net.UnixConn", server)
	}
	if _, ok := client.(*net.UnixConn); !ok {
		t.Errorf("Dial returned %T, want *net.UnixConn", client)
	}
}

func TestListenDefaultModes(t *testing.T) {
	ep := newEndpoint(t)
	mustListen(t, ep, nil)
	wantMode(t, filepath.Dir(ep), fs.ModeDir, 0o700)
	wantMode(t, ep, fs.ModeSocket, 0o600)
	wantMode(t, lockPath(ep), 0, 0o600)
	if _, err := os.Lstat(tempPath(ep)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary socket left behind: %v", err)
	}
}

func TestListenGroupMode(t *testing.T) {
	gid := os.Getgid()
	for _, group := range []string{strconv.Itoa(gid), groupName(t, gid)} {
		if group == "" {
			continue
		}
		t.Run(group, func(t *testing.T) {
			ep := newEndpoint(t)
			l := mustListen(t, ep, &ListenConfig{SocketMode: 0o660, Group: group})
			_, st := statT(t, ep)
			if int(st.Gid) != gid {
				t.Errorf("socket gid = %d, want %d", st.Gid, gid)
			}
			wantMode(t, ep, fs.ModeSocket, 0o660)
			// Search, but no listing, for the group.
			wantMode(t, filepath.Dir(ep), fs.ModeDir, 0o710)
			if _, st := statT(t, filepath.Dir(ep)); int(st.Gid) != gid {
				t.Errorf("directory gid = %d, want %d", st.Gid, gid)
			}
			roundTrip(t, l, ep)
		})
	}
}

func groupName(t *testing.T, gid int) string {
	g, err := user.LookupGroupId(strconv.Itoa(gid))
	if err != nil {
		t.Logf("no name for gid %d: %v", gid, err)
		return ""
	}
	return g.Name
}

func TestListenBadConfig(t *testing.T) {
	for name, cfg := range map[string]*ListenConfig{
		"setuid":        {SocketMode: 0o600 | os.ModeSetuid},
		"type bits":     {SocketMode: os.ModeSocket | 0o600},
		"unknown group": {Group: "no-such-group-eventbus"},
		"bad gid":       {Group: "4294967295"},
	} {
		t.Run(name, func(t *testing.T) {
			ep := newEndpoint(t)
			l, err := Listen(ep, cfg)
			if err == nil {
				l.Close()
				t.Fatal("Listen succeeded")
			}
			if !strings.HasPrefix(err.Error(), "transport: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if _, err := os.Lstat(ep); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("endpoint created despite the error: %v", err)
			}
		})
	}
}

func TestListenBadEndpoint(t *testing.T) {
	for _, ep := range []string{"", "/", "."} {
		if l, err := Listen(ep, nil); err == nil {
			l.Close()
			t.Errorf("Listen(%q) succeeded", ep)
		}
	}
}

func TestListenInUse(t *testing.T) {
	ep := newEndpoint(t)
	first := mustListen(t, ep, nil)
	second, err := Listen(ep, nil)
	if err == nil {
		second.Close()
		t.Fatal("second Listen succeeded")
	}
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second Listen: %v, want ErrInUse", err)
	}
	want := "transport: endpoint " + ep + " is in use by another running broker"
	if err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	// The failed attempt must not have disturbed the first listener.
	roundTrip(t, first, ep)
	wantMode(t, lockPath(ep), 0, 0o600)
}

func TestListenAfterClose(t *testing.T) {
	ep := newEndpoint(t)
	for i := range 3 {
		l := mustListen(t, ep, nil)
		roundTrip(t, l, ep)
		if err := l.Close(); err != nil {
			t.Fatalf("Close %d: %v", i, err)
		}
	}
}

// leaveStaleSocket binds path and closes the listener without unlinking,
// as a broker that crashed would.
func leaveStaleSocket(t *testing.T, path string) {
	t.Helper()
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	ul.Close()
	if fi, _ := statT(t, path); fi.Mode().Type() != fs.ModeSocket {
		t.Fatalf("%s: mode %v after closing the listener, want a socket", path, fi.Mode())
	}
}

func TestListenReplacesStaleSocket(t *testing.T) {
	ep := newEndpoint(t)
	if err := os.MkdirAll(filepath.Dir(ep), 0o700); err != nil {
		t.Fatal(err)
	}
	leaveStaleSocket(t, ep)
	leaveStaleSocket(t, tempPath(ep))
	l := mustListen(t, ep, nil)
	wantMode(t, ep, fs.ModeSocket, 0o600)
	roundTrip(t, l, ep)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{ep, tempPath(ep)} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s remains after Close: %v", p, err)
		}
	}
}

// A broker that holds no lock (an old version, or one whose lock file an
// administrator deleted) must still not be displaced.
func TestListenKeepsLiveUnlockedSocket(t *testing.T) {
	ep := newEndpoint(t)
	if err := os.MkdirAll(filepath.Dir(ep), 0o700); err != nil {
		t.Fatal(err)
	}
	other, err := net.Listen("unix", ep)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	go func() {
		for {
			c, err := other.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	l, err := Listen(ep, nil)
	if err == nil {
		l.Close()
		t.Fatal("Listen displaced a live socket")
	}
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("Listen: %v, want ErrInUse", err)
	}
	c, err := net.Dial("unix", ep)
	if err != nil {
		t.Fatalf("the other listener no longer answers: %v", err)
	}
	c.Close()
	if _, err := os.Lstat(lockPath(ep)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("failed Listen left its lock file: %v", err)
	}
}

func TestListenRefusesNonSocket(t *testing.T) {
	for name, create := range map[string]func(path string) error{
		"regular file": func(p string) error { return os.WriteFile(p, []byte("precious"), 0o600) },
		"directory":    func(p string) error { return os.Mkdir(p, 0o700) },
		"symlink":      func(p string) error { return os.Symlink("/etc/passwd", p) },
	} {
		t.Run(name, func(t *testing.T) {
			ep := newEndpoint(t)
			if err := os.MkdirAll(filepath.Dir(ep), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := create(ep); err != nil {
				t.Fatal(err)
			}
			before, _ := statT(t, ep)
			l, err := Listen(ep, nil)
			if err == nil {
				l.Close()
				t.Fatal("Listen succeeded")
			}
			if !strings.Contains(err.Error(), "not a socket") {
				t.Errorf("error %q does not say what is wrong", err)
			}
			after, _ := statT(t, ep)
			if !os.SameFile(before, after) || before.Mode() != after.Mode() {
				t.Errorf("endpoint changed: %v -> %v", before.Mode(), after.Mode())
			}
			if name == "regular file" {
				if b, _ := os.ReadFile(ep); string(b) != "precious" {
					t.Errorf("file content now %q", b)
				}
			}
			for _, p := range []string{lockPath(ep), tempPath(ep)} {
				if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s left behind: %v", p, err)
				}
			}
		})
	}
}

func TestListenerClose(t *testing.T) {
	ep := newEndpoint(t)
	l, err := Listen(ep, nil)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, l, ep)

	acceptErr := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		acceptErr <- err
	}()
	time.Sleep(50 * time.Millisecond) // let Accept block
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-acceptErr:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("blocked Accept returned %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not unblock Accept")
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, err = l.Accept()
	if !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
	if err != nil && strings.Contains(err.Error(), ".tmp") {
		t.Errorf("Accept error %q names the temporary socket, not the endpoint", err)
	}
	for _, p := range []string{ep, lockPath(ep), tempPath(ep)} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s remains after Close: %v", p, err)
		}
	}
	// The directory stays: it may be a runtime directory set up by an
	// administrator, and it will be reused.
	wantMode(t, filepath.Dir(ep), fs.ModeDir, 0o700)
	if _, err := Dial(context.Background(), ep); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Dial after Close: %v, want fs.ErrNotExist", err)
	}
}

func TestListenerCloseConcurrent(t *testing.T) {
	l := mustListen(t, newEndpoint(t), nil)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.Close()
		}()
	}
	wg.Wait()
}

// Close removes only the socket it created: a file that has since taken
// the endpoint's name is someone else's.
func TestListenerCloseKeepsReplacedSocket(t *testing.T) {
	ep := newEndpoint(t)
	l := mustListen(t, ep, nil)
	if err := os.Remove(ep); err != nil {
		t.Fatal(err)
	}
	leaveStaleSocket(t, ep)
	replacement, _ := statT(t, ep)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	now, _ := statT(t, ep)
	if !os.SameFile(replacement, now) {
		t.Error("Close removed a socket it did not create")
	}
}
