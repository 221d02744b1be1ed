//go:build windows

package transport

import (
	"errors"
	"fmt"
	"net"
	"os/user"
	"syscall"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"
)

// pipeBufferSize is the input and output buffer of each pipe instance. The
// framing does not depend on it: a larger frame simply takes several
// transfers.
const pipeBufferSize = 64 << 10

// pipeListener is the net.Listener that Listen returns on Windows.
type pipeListener struct {
	l net.Listener // from winio.ListenPipe
}

var _ net.Listener = (*pipeListener)(nil)

// Listen creates the named pipe endpoint, \\.\pipe\<name>, and listens on
// it. A nil cfg means the defaults. The returned listener's Accept returns
// connections that [PeerCredentialsOf] understands.
//
// The pipe is created by github.com/Microsoft/go-winio (v0.6.2), whose
// ListenPipe calls NtCreateNamedPipeFile directly rather than
// CreateNamedPipe:
//
//   - The first instance is created with the disposition FILE_CREATE, which
//     is what CreateNamedPipe's FILE_FLAG_FIRST_PIPE_INSTANCE turns into.
//     If a pipe of that name exists already, whoever created it, the call
//     fails (with access denied) instead of adding an instance to the other
//     pipe, which would run under that pipe's security descriptor. Listen
//     reports this as [ErrInUse]. go-winio keeps that first instance open
//     until Close, so the name stays this listener's.
//   - Every instance is created with FILE_PIPE_REJECT_REMOTE_CLIENTS, the
//     flag behind PIPE_REJECT_REMOTE_CLIENTS, so clients on other hosts
//     (over SMB) are turned away by the system.
//
// The pipe's security descriptor is the default one (see the package
// documentation) or cfg.SDDL. cfg.SocketMode is ignored.
//
// The name stays taken while any connection accepted from the listener is
// open, even after Close.
func Listen(endpoint string, cfg *ListenConfig) (net.Listener, error) {
	path, err := parsePipeEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	sddl, err := pipeSecurity(cfg)
	if err != nil {
		return nil, err
	}
	l, err := winio.ListenPipe(path, &winio.PipeConfig{
		SecurityDescriptor: sddl,
		InputBufferSize:    pipeBufferSize,
		OutputBufferSize:   pipeBufferSize,
	})
	if err != nil {
		return nil, listenError(path, err)
	}
	return &pipeListener{l: l}, nil
}

// listenError explains a failure to create the first instance of path.
// The named-pipe file system answers FILE_CREATE on an existing pipe with
// STATUS_ACCESS_DENIED (and with STATUS_INSTANCE_NOT_AVAILABLE when that
// pipe allows no more instances), so both mean the name is taken.
func listenError(path string, err error) error {
	if errors.Is(err, windows.ERROR_ACCESS_DENIED) || errors.Is(err, windows.ERROR_PIPE_BUSY) ||
		errors.Is(err, windows.ERROR_ALREADY_EXISTS) {
		return &detailError{
			sentinel: ErrInUse,
			msg: fmt.Sprintf("transport: named pipe %s already exists: another broker, or another program, holds the name; "+
				"refusing to share it", path),
			cause: err,
		}
	}
	return fmt.Errorf("transport: listen on %s: %w", path, err)
}

// errSDDLAndGroup is returned when a ListenConfig sets both.
var errSDDLAndGroup = errors.New("transport: ListenConfig.SDDL and Group cannot be combined; add the group's entry to the SDDL, " +
	"e.g. (A;;0x12019b;;;<group SID>)")

// pipeSecurity returns the SDDL for a new pipe: cfg.SDDL, checked, or the
// default descriptor for this process's user and cfg.Group.
func pipeSecurity(cfg *ListenConfig) (string, error) {
	if s := cfg.sddl(); s != "" {
		if cfg.group() != "" {
			return "", errSDDLAndGroup
		}
		return s, checkSDDL(s)
	}
	owner, err := processUserSID()
	if err != nil {
		return "", fmt.Errorf("transport: reading this process's user SID: %w", err)
	}
	group, err := lookupPipeGroup(cfg.group())
	if err != nil {
		return "", err
	}
	return defaultSDDL(owner, group)
}

// checkSDDL parses s and refuses descriptors that would open the pipe
// without anyone having asked for it: no DACL at all (access would then
// come from this process's default DACL) or a NULL DACL, which lets every
// local user connect and also create instances of the pipe.
func checkSDDL(s string) error {
	sd, err := windows.SecurityDescriptorFromString(s)
	if err != nil {
		return fmt.Errorf("transport: SDDL %q: %w", s, err)
	}
	dacl, _, err := sd.DACL()
	switch {
	case errors.Is(err, windows.ERROR_OBJECT_NOT_FOUND):
		return fmt.Errorf("transport: SDDL %q has no DACL (D:...); the pipe's access would be this process's default", s)
	case err != nil:
		return fmt.Errorf("transport: SDDL %q: reading its DACL: %w", s, err)
	case dacl == nil:
		return fmt.Errorf("transport: SDDL %q has a NULL DACL, which lets anyone connect and create instances of the pipe", s)
	}
	return nil
}

// lookupPipeGroup resolves ListenConfig.Group on Windows: a SID is taken as
// it is, a name is looked up and must be a group.
func lookupPipeGroup(name string) (string, error) {
	if name == "" || validSID(name) {
		return name, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return "", fmt.Errorf("transport: pipe group %q: %w", name, err)
	}
	if !validSID(g.Gid) {
		return "", fmt.Errorf("transport: pipe group %q has the unexpected SID %q", name, g.Gid)
	}
	return g.Gid, nil
}

// Accept waits for the next client. After Close it returns an error
// matching [net.ErrClosed].
func (l *pipeListener) Accept() (net.Conn, error) {
	c, err := l.l.Accept()
	if err != nil {
		return nil, l.acceptError(err)
	}
	return newPipeConn(c, true)
}

func (l *pipeListener) acceptError(err error) error {
	switch {
	case errors.Is(err, net.ErrClosed):
	case errors.Is(err, windows.ERROR_ACCESS_DENIED):
		err = fmt.Errorf("creating a pipe instance was refused; the pipe's security descriptor must grant "+
			"this process's user full access (GA): %w", err)
	case isResourceShortage(err):
		err = resourceShortage{err}
	}
	return &net.OpError{Op: "accept", Net: "pipe", Addr: l.Addr(), Err: err}
}

// isResourceShortage reports the Windows errors for a lack of memory, pool
// or quota, which pass once resources are freed.
func isResourceShortage(err error) bool {
	for _, e := range []error{
		windows.ERROR_NOT_ENOUGH_MEMORY, windows.ERROR_OUTOFMEMORY, windows.ERROR_NO_SYSTEM_RESOURCES,
		windows.ERROR_NONPAGED_SYSTEM_RESOURCES, windows.ERROR_PAGED_SYSTEM_RESOURCES, windows.ERROR_WORKING_SET_QUOTA,
		windows.ERROR_COMMITMENT_LIMIT, windows.ERROR_NOT_ENOUGH_QUOTA,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// resourceShortage marks an Accept failure that passes once resources are
// freed. It also matches [syscall.ENOMEM] with errors.Is, as the same
// condition does on Unix, so that a caller that retries such failures (the
// broker does) treats both platforms alike.
type resourceShortage struct{ err error }

func (e resourceShortage) Error() string        { return e.err.Error() }
func (e resourceShortage) Unwrap() error        { return e.err }
func (e resourceShortage) Is(target error) bool { return target == syscall.ENOMEM }

// Addr returns the pipe's path; its Network is "pipe".
func (l *pipeListener) Addr() net.Addr { return l.l.Addr() }

// Close stops listening and releases the first instance of the pipe. A
// blocked Accept returns. Calling it again does nothing.
func (l *pipeListener) Close() error { return l.l.Close() }
