//go:build windows

package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"

	"github.com/daemoneye/eventbus/wire"
)

// These tests need a real named pipe and run only on Windows (in CI).

var pipeSeq atomic.Int64

// newPipe returns an endpoint that no other test, and no other run, uses.
func newPipe(t *testing.T) string {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	return fmt.Sprintf(`\\.\pipe\eventbus-test-%d-%d-%s`, os.Getpid(), pipeSeq.Add(1), name)
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

type accepted struct {
	c   net.Conn
	err error
}

// acceptOne accepts one connection on l in the background.
func acceptOne(l net.Listener) <-chan accepted {
	ch := make(chan accepted, 1)
	go func() {
		c, err := l.Accept()
		ch <- accepted{c, err}
	}()
	return ch
}

func await(t *testing.T, ch <-chan accepted) net.Conn {
	t.Helper()
	select {
	case a := <-ch:
		if a.err != nil {
			t.Fatalf("Accept: %v", a.err)
		}
		t.Cleanup(func() { a.c.Close() })
		return a.c
	case <-time.After(10 * time.Second):
		t.Fatal("Accept did not return")
		return nil
	}
}

func mustDial(t *testing.T, endpoint string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, endpoint)
	if err != nil {
		t.Fatalf("Dial(%s): %v", endpoint, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// connect returns both ends of a new connection to l.
func connect(t *testing.T, l net.Listener, endpoint string) (server, client net.Conn) {
	t.Helper()
	ch := acceptOne(l)
	client = mustDial(t, endpoint)
	return await(t, ch), client
}

func ownSID(t *testing.T) string {
	t.Helper()
	sid, err := processUserSID()
	if err != nil {
		t.Fatal(err)
	}
	return sid
}

// sameFile reports whether two paths name one file, whatever their
// spelling (8.3 names, case).
func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	fa, err := os.Stat(a)
	if err != nil {
		t.Errorf("stat %q: %v", a, err)
		return false
	}
	fb, err := os.Stat(b)
	if err != nil {
		t.Errorf("stat %q: %v", b, err)
		return false
	}
	return os.SameFile(fa, fb)
}

// TestPipeRoundTrip sends a frame as large as the protocol allows, many
// times the pipe's buffers, each way across a real pipe.
func TestPipeRoundTrip(t *testing.T) {
	ep := newPipe(t)
	l := mustListen(t, ep, nil)
	if l.Addr().Network() != "pipe" || l.Addr().String() != ep {
		t.Errorf("Addr() = %s %s, want pipe %s", l.Addr().Network(), l.Addr(), ep)
	}
	server, client := connect(t, l, ep)
	if client.RemoteAddr().String() != ep {
		t.Errorf("client RemoteAddr() = %s, want %s", client.RemoteAddr(), ep)
	}
	msg := bytes.Repeat([]byte("event "), wire.DefaultMaxFrameSize/6)
	for _, dir := range []struct {
		name     string
		from, to net.Conn
	}{{"client to broker", client, server}, {"broker to client", server, client}} {
		frame := wire.CRCIEEE.AppendFrame(nil, msg)
		werr := make(chan error, 1)
		go func() {
			_, err := dir.from.Write(frame)
			werr <- err
		}()
		got, err := wire.NewReader(dir.to, wire.Config{}).ReadFrame()
		if err != nil {
			t.Fatalf("%s: ReadFrame: %v", dir.name, err)
		}
		if !bytes.Equal(got, msg) {
			t.Errorf("%s: got %d bytes, want the %d sent", dir.name, len(got), len(msg))
		}
		if err := <-werr; err != nil {
			t.Errorf("%s: Write: %v", dir.name, err)
		}
	}
}

// The layers above rely on the errors a Unix socket gives: a passed
// deadline is os.ErrDeadlineExceeded (and a net.Error timeout), the peer
// closing is io.EOF, use after Close is net.ErrClosed.
func TestPipeConnErrors(t *testing.T) {
	ep := newPipe(t)
	server, client := connect(t, mustListen(t, ep, nil), ep)
	buf := make([]byte, 16)

	server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := server.Read(buf)
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("Read past the deadline: %v, want os.ErrDeadlineExceeded and a timeout", err)
	}
	server.SetReadDeadline(time.Time{})

	client.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := client.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Write past the deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	client.SetWriteDeadline(time.Time{})

	if _, err := client.Write([]byte("last")); err != nil {
		t.Fatal(err)
	}
	client.Close()
	if n, err := io.ReadFull(server, buf[:4]); err != nil || string(buf[:n]) != "last" {
		t.Errorf("read after the client closed: %q, %v; want the bytes it wrote", buf[:n], err)
	}
	if _, err := server.Read(buf); err != io.EOF {
		t.Errorf("Read at the end: %v, want io.EOF", err)
	}
	server.Close()
	if _, err := server.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close: %v, want net.ErrClosed", err)
	}
	if _, err := PeerCredentialsOf(server); !errors.Is(err, net.ErrClosed) {
		t.Errorf("PeerCredentialsOf after Close: %v, want net.ErrClosed", err)
	}
}

func TestPipeListenerClose(t *testing.T) {
	ep := newPipe(t)
	l, err := Listen(ep, nil)
	if err != nil {
		t.Fatal(err)
	}
	ch := acceptOne(l)
	time.Sleep(50 * time.Millisecond) // let Accept block
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case a := <-ch:
		if !errors.Is(a.err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v, want net.ErrClosed", a.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a blocked Accept")
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept on a closed listener: %v, want net.ErrClosed", err)
	}
	// The name is free again.
	mustListen(t, ep, nil)
}

// TestPipeSquatting: a pipe that exists already, whether another broker's
// or a squatter's, is never shared.
func TestPipeSquatting(t *testing.T) {
	t.Run("second broker", func(t *testing.T) {
		ep := newPipe(t)
		first := mustListen(t, ep, nil)
		l, err := Listen(ep, nil)
		if err == nil {
			l.Close()
			t.Fatal("a second Listen on the same pipe succeeded")
		}
		if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), ep) {
			t.Errorf("second Listen: %v, want ErrInUse naming the pipe", err)
		}
		// The first listener still works.
		server, _ := connect(t, first, ep)
		if creds, err := PeerCredentialsOf(server); err != nil || int(creds.PID) != os.Getpid() {
			t.Errorf("first listener after the refused one: %v, %v", creds, err)
		}
	})
	t.Run("squatter", func(t *testing.T) {
		// Another program creates the pipe first, open to everyone.
		ep := newPipe(t)
		squatter, err := winio.ListenPipe(ep, &winio.PipeConfig{SecurityDescriptor: "D:P(A;;GA;;;WD)"})
		if err != nil {
			t.Fatal(err)
		}
		defer squatter.Close()
		l, err := Listen(ep, nil)
		if err == nil {
			l.Close()
			t.Fatal("Listen joined a pipe another program created")
		}
		if !errors.Is(err, ErrInUse) {
			t.Errorf("Listen on a squatted pipe: %v, want ErrInUse", err)
		}
		squatter.Close()
		mustListen(t, ep, nil)
	})
}

func TestPipePeerCredentialsBothEnds(t *testing.T) {
	ep := newPipe(t)
	server, client := connect(t, mustListen(t, ep, nil), ep)
	sid := ownSID(t)
	exe := mustExecutable(t)
	for name, c := range map[string]net.Conn{"broker's end": server, "client's end": client} {
		creds, err := PeerCredentialsOf(c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if creds.SID != sid || int(creds.PID) != os.Getpid() || creds.UID != 0 || creds.GID != 0 {
			t.Errorf("%s: %v, want sid=%s pid=%d and no uid or gid", name, creds, sid, os.Getpid())
		}
		if !sameFile(t, creds.Executable, exe) {
			t.Errorf("%s: Executable = %q, want %q", name, creds.Executable, exe)
		}
	}
}

func TestPeerCredentialsOfOtherConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := PeerCredentialsOf(a); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("PeerCredentialsOf(net.Pipe): %v, want ErrNoCredentials", err)
	}
	if _, err := PeerCredentialsOf(nil); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("PeerCredentialsOf(nil): %v, want ErrNoCredentials", err)
	}
}

// A client in another process: its PID, SID and executable.
func TestPipePeerCredentialsOtherProcess(t *testing.T) {
	ep := newPipe(t)
	l := mustListen(t, ep, nil)
	ch := acceptOne(l)
	cmd := helperCommand(t, "hold", ep)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	server := await(t, ch)
	creds, err := PeerCredentialsOf(server)
	if err != nil {
		t.Fatal(err)
	}
	if int(creds.PID) != cmd.Process.Pid || creds.SID != ownSID(t) {
		t.Errorf("got %v, want pid=%d sid=%s", creds, cmd.Process.Pid, ownSID(t))
	}
	if !sameFile(t, creds.Executable, cmd.Path) {
		t.Errorf("Executable = %q, want %q", creds.Executable, cmd.Path)
	}
}

// The SID comes from the connection, so it is still there after the client
// has exited; the executable is either still right or unknown.
func TestPipePeerCredentialsPeerExited(t *testing.T) {
	ep := newPipe(t)
	l := mustListen(t, ep, nil)
	ch := acceptOne(l)
	cmd := helperCommand(t, "hold", ep)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	server := await(t, ch)
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	creds, err := PeerCredentialsOf(server)
	if err != nil {
		t.Fatal(err)
	}
	if int(creds.PID) != cmd.Process.Pid || creds.SID != ownSID(t) {
		t.Errorf("got %v, want pid=%d sid=%s", creds, cmd.Process.Pid, ownSID(t))
	}
	if creds.Executable != "" && !sameFile(t, creds.Executable, cmd.Path) {
		t.Errorf("Executable = %q, want the helper's or none", creds.Executable)
	}
}

// A client that connects at the anonymous impersonation level (go-winio's
// default) hides its user, and gets no credentials: the broker then
// refuses its claim.
func TestPipeAnonymousClient(t *testing.T) {
	ep := newPipe(t)
	l := mustListen(t, ep, nil)
	ch := acceptOne(l)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := winio.DialPipeContext(ctx, ep)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	server := await(t, ch)
	creds, err := PeerCredentialsOf(server)
	if !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), "anonymous") {
		t.Errorf("PeerCredentialsOf an anonymous client = %v, %v; want ErrNoCredentials saying why", creds, err)
	}
}

// TestPipeAccessRefused: a process whose user the descriptor does not
// admit cannot open the pipe. The test cannot run a process as another
// user (that needs a second account and its password), so it turns the
// situation around: the pipe admits only another SID, and this user is
// the one refused. Each refusal is paired with a case where the same
// helper gets in.
func TestPipeAccessRefused(t *testing.T) {
	self := ownSID(t)
	if self == "S-1-5-18" {
		t.Skip("running as SYSTEM, which every descriptor here admits")
	}
	for _, tc := range []struct {
		name string
		cfg  *ListenConfig
		want string
	}{
		{"default descriptor", nil, "ok"},
		{"only SYSTEM", &ListenConfig{SDDL: "D:P(A;;GA;;;SY)"}, errnoOutcome(windows.ERROR_ACCESS_DENIED)},
		{"another user's SID", &ListenConfig{SDDL: "D:P(A;;GA;;;S-1-5-21-1-2-3-1001)(A;;GA;;;SY)"},
			errnoOutcome(windows.ERROR_ACCESS_DENIED)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := newPipe(t)
			l := mustListen(t, ep, tc.cfg)
			if tc.want == "ok" {
				acceptOne(l)
			}
			out, err := helperCommand(t, "dial", ep).Output()
			if err != nil {
				t.Fatalf("helper: %v", err)
			}
			if got := strings.TrimSpace(string(out)); got != tc.want {
				t.Errorf("helper dialling %s: %s, want %s", ep, got, tc.want)
			}
			if tc.want != "ok" {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, err := Dial(ctx, ep)
				if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "not permitted") {
					t.Errorf("Dial: %v, want fs.ErrPermission saying so", err)
				}
			}
		})
	}
}

func errnoOutcome(errno windows.Errno) string {
	return fmt.Sprintf("errno=%d", int(errno))
}

// TestPipeDescriptor reads the security descriptor back from the pipe.
func TestPipeDescriptor(t *testing.T) {
	self := ownSID(t)
	const users = "S-1-5-32-545" // BUILTIN\Users
	for _, tc := range []struct {
		name      string
		cfg       *ListenConfig
		wantGroup bool
	}{
		{"default", nil, false},
		{"group", &ListenConfig{Group: users}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := newPipe(t)
			server, _ := connect(t, mustListen(t, ep, tc.cfg), ep)
			sd, err := windows.GetSecurityInfo(server.(*pipeConn).handle, windows.SE_FILE_OBJECT,
				windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
			if err != nil {
				t.Fatal(err)
			}
			owner, _, err := sd.Owner()
			if err != nil {
				t.Fatal(err)
			}
			if owner.String() != self {
				t.Errorf("owner = %s, want this process's user %s", owner, self)
			}
			sddl := sd.String()
			for _, everyone := range []string{";WD)", ";AU)", ";IU)", ";AN)", ";NU)"} {
				if strings.Contains(sddl, everyone) {
					t.Errorf("descriptor %s admits %s", sddl, everyone)
				}
			}
			hasGroup := strings.Contains(sddl, ";BU)") || strings.Contains(sddl, ";"+users+")")
			if hasGroup != tc.wantGroup {
				t.Errorf("descriptor %s: entry for the group %v, want %v", sddl, hasGroup, tc.wantGroup)
			}
			if !strings.Contains(sddl, "D:P") {
				t.Errorf("descriptor %s: DACL not protected", sddl)
			}
		})
	}
}

func TestListenConfigErrors(t *testing.T) {
	for name, cfg := range map[string]*ListenConfig{
		"bad SDDL":       {SDDL: "this is not SDDL"},
		"no DACL":        {SDDL: "O:BA"},
		"NULL DACL":      {SDDL: "D:NO_ACCESS_CONTROL"},
		"SDDL and group": {SDDL: "D:P(A;;GA;;;SY)", Group: "S-1-5-32-545"},
		"unknown group":  {Group: "no-such-group-eventbus"},
	} {
		t.Run(name, func(t *testing.T) {
			ep := newPipe(t)
			l, err := Listen(ep, cfg)
			if err == nil {
				l.Close()
				t.Fatal("Listen succeeded")
			}
			if !strings.HasPrefix(err.Error(), "transport: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			// Nothing was created: the name is still free.
			mustListen(t, ep, nil)
		})
	}
	// SocketMode means nothing on Windows and is ignored (eventbusd always
	// sets it).
	mustListen(t, newPipe(t), &ListenConfig{SocketMode: 0o600})
}

func TestPipeBadEndpoints(t *testing.T) {
	for _, ep := range []string{"", `C:\eventbus\bus.sock`, "/run/eventbus/bus.sock", `\\localhost\pipe\eventbus`, `\\.\pipe\`} {
		if l, err := Listen(ep, nil); err == nil {
			l.Close()
			t.Errorf("Listen(%q) succeeded", ep)
		}
		if c, err := Dial(context.Background(), ep); err == nil {
			c.Close()
			t.Errorf("Dial(%q) succeeded", ep)
		}
	}
}

func TestPipeDialNoBroker(t *testing.T) {
	ep := newPipe(t)
	_, err := Dial(context.Background(), ep)
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "transport: no broker is listening at "+ep) {
		t.Errorf("Dial: %v, want fs.ErrNotExist saying no broker listens", err)
	}
}

func TestPipeDialCancelled(t *testing.T) {
	ep := newPipe(t)
	mustListen(t, ep, nil) // no Accept: every instance is busy
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	c, err := Dial(ctx, ep)
	if err == nil {
		c.Close()
		t.Fatal("Dial succeeded without an Accept")
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), ep) {
		t.Errorf("Dial: %v, want context.DeadlineExceeded naming the pipe", err)
	}
}

func TestDefaultEndpointWindows(t *testing.T) {
	ep := DefaultEndpoint()
	if _, err := parsePipeEndpoint(ep); err != nil {
		t.Fatalf("DefaultEndpoint() = %q: %v", ep, err)
	}
	// go test is not a service: the pipe is this user's.
	if !strings.HasPrefix(ep, `\\.\pipe\eventbus-`) {
		t.Errorf("DefaultEndpoint() = %q, want a per-user pipe", ep)
	}
}
