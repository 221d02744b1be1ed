//go:build windows

package transport

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"
)

// pipeConn is the net.Conn that Accept and Dial return on Windows: a
// go-winio pipe connection, plus what PeerCredentialsOf needs. Its Read and
// Write report a passed deadline as [os.ErrDeadlineExceeded] and use after
// Close as [net.ErrClosed], as a Unix socket does; go-winio has errors of
// its own for both.
type pipeConn struct {
	net.Conn
	handle    windows.Handle // the pipe, owned by Conn
	server    bool           // the broker's end, from Accept
	connected time.Time      // not before the pipe was connected

	// mu is held for reading while handle is used outside Conn, so that
	// Close cannot free the handle (and Windows reuse its value) meanwhile.
	mu     sync.RWMutex
	closed bool
}

var _ net.Conn = (*pipeConn)(nil)

// newPipeConn wraps a connection just returned by go-winio. go-winio's
// pipe connections have an Fd method that returns the pipe handle.
func newPipeConn(c net.Conn, server bool) (net.Conn, error) {
	connected := time.Now()
	f, ok := c.(interface{ Fd() uintptr })
	if !ok {
		c.Close()
		return nil, fmt.Errorf("transport: go-winio returned a %T, which has no pipe handle", c)
	}
	return &pipeConn{Conn: c, handle: windows.Handle(f.Fd()), server: server, connected: connected}, nil
}

func (c *pipeConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	return n, c.opError("read", err)
}

func (c *pipeConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	return n, c.opError("write", err)
}

func (c *pipeConn) opError(op string, err error) error {
	switch {
	case err == nil || err == io.EOF:
		return err
	case errors.Is(err, winio.ErrTimeout):
		err = os.ErrDeadlineExceeded
	case errors.Is(err, winio.ErrFileClosed):
		err = net.ErrClosed
	}
	return &net.OpError{Op: op, Net: "pipe", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Close closes the pipe. It waits for a PeerCredentialsOf in progress.
func (c *pipeConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.Conn.Close()
}

// PeerCredentialsOf reports who is at the other end of conn, which must
// come from the Listener that [Listen] returns or from [Dial]. Anything
// else gives [ErrNoCredentials]. UID and GID are always zero on Windows.
//
// On the broker's end (from Accept):
//
//   - SID is the user of the security context the client connected with,
//     read by impersonating the client (ImpersonateNamedPipeClient) and
//     reading the user from the thread token. That context was captured by
//     the kernel when the client opened the pipe, so it belongs to this
//     connection whatever happens to the client process afterwards. A
//     client that connected at the anonymous impersonation level hides its
//     identity and gets [ErrNoCredentials]; [Dial] connects at the
//     identification level.
//   - PID is the client's process id as the pipe recorded it
//     (GetNamedPipeClientProcessId).
//
// On a client's end (from Dial), PID is the broker's process id
// (GetNamedPipeServerProcessId) and SID the user of that process's token.
// A client that may not query the broker's process, typically because the
// broker runs as a more privileged user, gets [ErrNoCredentials].
//
// Executable is the peer process's image path (QueryFullProcessImageName),
// or "" when this process may not query it or the process is gone. A
// process id is only a number, and once the peer has exited Windows may
// give it to a new process; a process created after the connection was
// made is therefore not taken for the peer. The check cannot tell apart a
// process created in the instant between the connection and the return of
// Accept or Dial, which is why a client's SID does not depend on its
// process at all.
//
// Call it right after Accept or Dial.
func PeerCredentialsOf(conn net.Conn) (PeerCredentials, error) {
	pc, ok := conn.(*pipeConn)
	if !ok || pc == nil {
		return PeerCredentials{}, fmt.Errorf("%w: %T is not a named pipe connection from Listen or Dial", ErrNoCredentials, conn)
	}
	return pc.peerCredentials()
}

func (c *pipeConn) peerCredentials() (PeerCredentials, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return PeerCredentials{}, fmt.Errorf("transport: peer credentials: %w", net.ErrClosed)
	}
	var pid uint32
	getPID, what := windows.GetNamedPipeClientProcessId, "GetNamedPipeClientProcessId"
	if !c.server {
		getPID, what = windows.GetNamedPipeServerProcessId, "GetNamedPipeServerProcessId"
	}
	if err := getPID(c.handle, &pid); err != nil {
		return PeerCredentials{}, fmt.Errorf("transport: peer credentials: %s: %w", what, err)
	}
	var creds PeerCredentials
	if pid <= math.MaxInt32 {
		creds.PID = int32(pid)
	}
	proc := openPeerProcess(pid, c.connected)
	if proc != 0 {
		defer windows.CloseHandle(proc)
	}
	var err error
	if c.server {
		creds.SID, err = clientSID(c.handle)
	} else {
		creds.SID, err = serverSID(proc)
	}
	if err != nil {
		return PeerCredentials{}, err
	}
	if proc != 0 {
		creds.Executable = processImage(proc)
	}
	return creds, nil
}

// openPeerProcess opens process pid for querying, or returns 0 when it
// cannot, or when the process was created after connected and so cannot
// be the one that connected. While the handle is open, pid cannot be given
// to another process.
func openPeerProcess(pid uint32, connected time.Time) windows.Handle {
	if pid == 0 {
		return 0
	}
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return 0
	}
	var created, exited, kernel, user windows.Filetime
	if err := windows.GetProcessTimes(h, &created, &exited, &kernel, &user); err != nil ||
		created.Nanoseconds() > connected.UnixNano() {
		windows.CloseHandle(h)
		return 0
	}
	return h
}

// serverSID returns the user SID of the broker's process, proc.
func serverSID(proc windows.Handle) (string, error) {
	if proc == 0 {
		return "", fmt.Errorf("%w: the broker's process cannot be queried (it may run as a more privileged user)", ErrNoCredentials)
	}
	var t windows.Token
	if err := windows.OpenProcessToken(proc, windows.TOKEN_QUERY, &t); err != nil {
		return "", fmt.Errorf("%w: opening the broker process's token: %w", ErrNoCredentials, err)
	}
	defer t.Close()
	sid, err := tokenUserSID(t)
	if err != nil {
		return "", fmt.Errorf("transport: peer credentials: %w", err)
	}
	return sid, nil
}

// processImage returns proc's executable path, or "".
func processImage(proc windows.Handle) string {
	for _, size := range []uint32{windows.MAX_PATH, 32 << 10} {
		buf := make([]uint16, size)
		n := size
		err := windows.QueryFullProcessImageName(proc, 0, &buf[0], &n)
		if err == nil {
			return windows.UTF16ToString(buf[:n])
		}
		if !errors.Is(err, windows.ERROR_INSUFFICIENT_BUFFER) {
			return ""
		}
	}
	return ""
}

// procImpersonateNamedPipeClient is ImpersonateNamedPipeClient, which
// golang.org/x/sys/windows (v0.40.0) does not wrap. Its only argument is a
// handle, so calling it needs no unsafe.
var procImpersonateNamedPipeClient = windows.NewLazySystemDLL("advapi32.dll").NewProc("ImpersonateNamedPipeClient")

// clientSID returns the user SID of the client at the other end of the
// server pipe handle pipe. Impersonating the client changes the identity of
// the OS thread, so this runs on a goroutine of its own that keeps its
// thread locked until the impersonation has ended. Should RevertToSelf
// ever fail, the goroutine exits with the thread still locked, and the
// runtime then terminates the thread instead of running anything else on
// it as the client.
func clientSID(pipe windows.Handle) (string, error) {
	type result struct {
		sid string
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		sid, reverted, err := impersonateAndReadSID(pipe)
		if reverted {
			runtime.UnlockOSThread()
		}
		done <- result{sid, err}
	}()
	r := <-done
	return r.sid, r.err
}

// impersonateAndReadSID runs on a locked thread; see clientSID. reverted
// says whether the thread is itself again.
func impersonateAndReadSID(pipe windows.Handle) (sid string, reverted bool, err error) {
	if err := procImpersonateNamedPipeClient.Find(); err != nil {
		return "", true, fmt.Errorf("%w: %w", ErrNoCredentials, err)
	}
	// Revert whatever happens: a failed ImpersonateNamedPipeClient leaves
	// the thread as it was, and RevertToSelf then does nothing.
	defer func() {
		if rerr := windows.RevertToSelf(); rerr != nil {
			sid, reverted, err = "", false, fmt.Errorf("transport: peer credentials: RevertToSelf: %w", rerr)
			return
		}
		reverted = true
	}()
	if ok, _, callErr := procImpersonateNamedPipeClient.Call(uintptr(pipe)); ok == 0 {
		return "", false, fmt.Errorf("transport: peer credentials: ImpersonateNamedPipeClient: %w", callErr)
	}
	var t windows.Token
	// openAsSelf: at the identification level the thread's token cannot be
	// used to open objects, so the token is opened with the process's own
	// rights.
	if err := windows.OpenThreadToken(windows.CurrentThread(), windows.TOKEN_QUERY, true, &t); err != nil {
		if errors.Is(err, windows.ERROR_CANT_OPEN_ANONYMOUS) {
			return "", false, fmt.Errorf("%w: the client connected at the anonymous impersonation level, which hides its user; "+
				"connect at the identification level, as transport.Dial does", ErrNoCredentials)
		}
		return "", false, fmt.Errorf("transport: peer credentials: OpenThreadToken: %w", err)
	}
	defer t.Close()
	sid, err = tokenUserSID(t)
	if err != nil {
		return "", false, fmt.Errorf("transport: peer credentials: client token: %w", err)
	}
	return sid, false, nil
}
