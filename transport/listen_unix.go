//go:build unix

package transport

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// probeTimeout bounds the connect used to tell a stale socket from a live
// one. A live listener answers at once, so this matters only for a broker
// that is wedged.
const probeTimeout = time.Second

// listener is the net.Listener that Listen returns on Unix.
type listener struct {
	ul       *net.UnixListener
	addr     *net.UnixAddr
	endpoint string
	temp     string
	socket   os.FileInfo // the file renamed onto endpoint, to recognise it at Close
	lock     *endpointLock

	closeOnce sync.Once
}

var _ net.Listener = (*listener)(nil)

// Listen creates the endpoint and listens on it. A nil cfg means the
// defaults. The returned listener's Accept returns *net.UnixConn values,
// which [PeerCredentialsOf] understands.
//
// Listen fails with [ErrInUse] when a live broker owns the endpoint, with
// [ErrInsecureDirectory] when the socket's directory cannot be trusted,
// and with [ErrEndpointTooLong] when the path cannot be a socket address.
// A socket left at the endpoint by a broker that has died is replaced, but
// any other kind of file there is left alone and reported as an error.
func Listen(endpoint string, cfg *ListenConfig) (net.Listener, error) {
	if endpoint == "" {
		return nil, errors.New("transport: empty endpoint")
	}
	if looksLikePipe(endpoint) {
		return nil, pipeOnUnix(endpoint)
	}
	if cfg.sddl() != "" {
		return nil, fmt.Errorf("transport: ListenConfig.SDDL applies to Windows named pipes only; on %s use SocketMode and Group", runtime.GOOS)
	}
	endpoint = filepath.Clean(endpoint)
	dir, base := filepath.Dir(endpoint), filepath.Base(endpoint)
	if base == "." || base == ".." || base == string(filepath.Separator) {
		return nil, fmt.Errorf("transport: endpoint %s does not name a socket file", endpoint)
	}
	temp, lock := tempPath(endpoint), lockPath(endpoint)
	if err := checkEndpointLength(endpoint, len(temp)-len(endpoint)); err != nil {
		return nil, err
	}
	mode := cfg.socketMode()
	if mode&^os.ModePerm != 0 {
		return nil, fmt.Errorf("transport: socket mode %v has bits other than permissions", mode)
	}
	gid, err := lookupGroup(cfg.group())
	if err != nil {
		return nil, err
	}
	own := []string{base, filepath.Base(temp), filepath.Base(lock)}
	if err := prepareDir(dir, dirMode(mode), gid, own); err != nil {
		return nil, err
	}

	l := &listener{
		addr:     &net.UnixAddr{Name: endpoint, Net: "unix"},
		endpoint: endpoint,
		temp:     temp,
	}
	if l.lock, err = acquireLock(endpoint); err != nil {
		return nil, err
	}
	if err := l.publish(mode, gid); err != nil {
		// The lock is still ours, so nobody else can be using either name.
		_ = clearStale(l.temp, l.endpoint)
		_ = l.lock.release()
		return nil, err
	}
	return l, nil
}

// publish binds the socket under the temporary name, gives it its final
// mode and group, and only then renames it onto the endpoint. The caller
// holds the endpoint's lock.
//
// Between bind and chmod the temporary socket has whatever mode the umask
// leaves. Setting the umask would close that window, but the umask belongs
// to the whole process and other goroutines may be creating files. The
// window is harmless instead because of the directory: only classes the
// final socket mode admits have search permission on it, so nobody else
// can reach the temporary name at all.
func (l *listener) publish(mode os.FileMode, gid int) error {
	if err := clearStale(l.endpoint, l.endpoint); err != nil {
		return err
	}
	if err := clearStale(l.temp, l.endpoint); err != nil {
		return err
	}
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: l.temp, Net: "unix"})
	if err != nil {
		return fmt.Errorf("transport: listen on %s: %w", l.endpoint, err)
	}
	// The rename moves the socket away from the name the listener would
	// unlink, and Close removes the endpoint itself once it has checked
	// that the file there is still this one.
	ul.SetUnlinkOnClose(false)
	if err := l.finishSocket(mode, gid); err != nil {
		ul.Close()
		return err
	}
	l.ul = ul
	return nil
}

func (l *listener) finishSocket(mode os.FileMode, gid int) error {
	if gid >= 0 {
		if err := os.Lchown(l.temp, -1, gid); err != nil {
			return fmt.Errorf("transport: setting socket group: %w", err)
		}
	}
	if err := os.Chmod(l.temp, mode); err != nil {
		return fmt.Errorf("transport: setting socket mode: %w", err)
	}
	fi, err := os.Lstat(l.temp)
	if err != nil {
		return fmt.Errorf("transport: checking socket: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != mode {
		return fmt.Errorf("transport: socket %s has mode %v after chmod to %04o", l.temp, fi.Mode(), mode)
	}
	if err := os.Rename(l.temp, l.endpoint); err != nil {
		return fmt.Errorf("transport: publishing socket: %w", err)
	}
	l.socket = fi
	return nil
}

// clearStale removes the socket at path if no broker is behind it any more.
// The caller holds the endpoint's lock, so no broker using this package can
// be behind it. The probe still matters: someone may have deleted the lock
// file under a running broker, or the socket may belong to a program that
// takes no lock. A socket that accepts a connection is never removed.
func clearStale(path, endpoint string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("transport: checking %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("transport: %s exists and is not a socket (mode %v); refusing to remove it", path, fi.Mode())
	}
	c, err := net.DialTimeout("unix", path, probeTimeout)
	switch {
	case err == nil:
		c.Close()
		return inUse(endpoint)
	case errors.Is(err, syscall.EAGAIN):
		// A full accept backlog: someone is listening, just busy.
		return inUse(endpoint)
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case !errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("transport: cannot tell whether socket %s is stale: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("transport: removing stale socket: %w", err)
	}
	return nil
}

func inUse(endpoint string) error {
	return &detailError{
		sentinel: ErrInUse,
		msg:      fmt.Sprintf("transport: endpoint %s is in use by another running broker", endpoint),
	}
}

// Accept waits for the next collector and returns its *net.UnixConn. After
// Close it returns an error matching [net.ErrClosed].
//
// The kernel names the socket by the path it was bound to, so an accepted
// connection's LocalAddr shows the temporary name, not the endpoint.
func (l *listener) Accept() (net.Conn, error) {
	c, err := l.ul.AcceptUnix()
	if err != nil {
		var opErr *net.OpError
		if errors.As(err, &opErr) {
			relabelled := *opErr
			relabelled.Addr = l.addr
			return nil, &relabelled
		}
		return nil, err
	}
	return c, nil
}

// Addr returns the endpoint the listener was created on.
func (l *listener) Addr() net.Addr { return l.addr }

// Close stops listening, removes the socket (if the file at the endpoint is
// still the one Listen created) and releases the endpoint. Calling it again
// does nothing and returns nil.
func (l *listener) Close() error {
	var err error
	l.closeOnce.Do(func() { err = l.shutdown() })
	return err
}

func (l *listener) shutdown() error {
	var errs []error
	if err := l.ul.Close(); err != nil {
		errs = append(errs, fmt.Errorf("transport: closing %s: %w", l.endpoint, err))
	}
	// A file that an administrator put at the endpoint after Listen is not
	// this listener's to delete.
	if fi, err := os.Lstat(l.endpoint); err == nil && os.SameFile(fi, l.socket) {
		if err := os.Remove(l.endpoint); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("transport: removing socket: %w", err))
		}
	}
	if fi, err := os.Lstat(l.temp); err == nil && fi.Mode().Type() == fs.ModeSocket {
		if err := os.Remove(l.temp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("transport: removing temporary socket: %w", err))
		}
	}
	// Last, so that no other broker can start while the files above are
	// still being removed.
	if err := l.lock.release(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
