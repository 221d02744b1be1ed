package transport

import (
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

var (
	// ErrInUse means a live broker already owns the endpoint.
	ErrInUse = errors.New("transport: endpoint is in use by another running broker")

	// ErrInsecureDirectory means the directory that would hold the socket
	// cannot be trusted. It may be owned by another user, be a symbolic
	// link or not be a directory at all. It may also be open to group or
	// others while holding files that are not this endpoint's, so Listen
	// will not tighten it.
	ErrInsecureDirectory = errors.New("transport: insecure socket directory")

	// ErrEndpointTooLong means the endpoint path does not fit in a Unix
	// socket address.
	ErrEndpointTooLong = errors.New("transport: endpoint path too long for a Unix socket")

	// ErrNoCredentials means the platform or the connection type cannot
	// report who the peer is.
	ErrNoCredentials = errors.New("transport: peer credentials are not available")
)

// ListenConfig adjusts how [Listen] creates an endpoint. The zero value and
// a nil *ListenConfig both mean the defaults.
type ListenConfig struct {
	// SocketMode is the socket file's permission bits. 0 means 0600.
	// Connecting needs write permission, so 0660 admits a group. Windows
	// ignores it: there the pipe's security descriptor decides.
	SocketMode os.FileMode

	// Group, when not empty, is a group name or numeric gid. Listen gives
	// that group to the socket file and to its directory. Use it with
	// SocketMode 0660 so that a group of collector users can connect.
	//
	// On Windows Group is a group name or SID. Its members may then connect
	// to the pipe: the default security descriptor gets an entry granting
	// them read and write, but not the right to create pipe instances.
	Group string

	// SDDL, on Windows, replaces the pipe's default security descriptor
	// (see the package documentation). It must have a DACL, and that DACL
	// must grant the broker's own user full access (GA): the broker creates
	// a pipe instance for every connection. A client needs
	// FILE_GENERIC_READ and FILE_WRITE_DATA. Grant clients 0x12019b
	// (read and write without FILE_CREATE_PIPE_INSTANCE) rather than GW,
	// which would let them create instances and answer other clients in the
	// broker's place. SDDL and Group cannot be combined. Empty means the
	// default descriptor; on Unix it must be empty.
	SDDL string
}

const defaultSocketMode os.FileMode = 0o600

// socketMode returns the effective mode. It accepts a nil receiver.
func (c *ListenConfig) socketMode() os.FileMode {
	if c == nil || c.SocketMode == 0 {
		return defaultSocketMode
	}
	return c.SocketMode
}

func (c *ListenConfig) group() string {
	if c == nil {
		return ""
	}
	return c.Group
}

func (c *ListenConfig) sddl() string {
	if c == nil {
		return ""
	}
	return c.SDDL
}

// PeerCredentials is who is on the other end of a connection, as the kernel
// reports it.
//
// On Unix, UID and GID are the peer's effective ids when it connected (for
// a collector asking about the broker: when the broker started listening).
// On Windows, SID is the peer's user SID and UID and GID are unused (zero).
// Base access control on these. Executable is only a label for logs: a
// process can exec another program after connecting.
type PeerCredentials struct {
	UID uint32
	GID uint32
	// SID is the peer's user SID on Windows, such as
	// "S-1-5-21-1004336348-1177238915-682003330-1001"; "" on Unix. For a
	// broker it comes from the security context the client connected with;
	// for a client, from the broker process's token.
	SID string
	// PID is 0 when the platform does not report it, or when the peer is
	// in a PID namespace this process cannot see.
	PID int32
	// Executable is the peer's program path, read when PeerCredentialsOf
	// is called: on Linux from /proc/<pid>/exe, on Windows with
	// QueryFullProcessImageName. It is "" when unknown: another platform,
	// no permission to read it, or the process has gone and its PID could
	// belong to someone else.
	Executable string
}

// String formats c for logs, e.g. "uid=1000 gid=1000 pid=4242
// exe=/usr/bin/procmond", or on Windows "sid=S-1-5-18 pid=4242
// exe=C:\ProgramData\procmond.exe" (uid and gid mean nothing there and
// are left out, so that a zero uid is never read as root). PID and exe are
// left out when unknown. The peer chooses its own executable path, so the
// path is quoted whenever it could be mistaken for more fields or break
// the log line.
func (c PeerCredentials) String() string {
	var b strings.Builder
	if c.SID != "" {
		b.WriteString("sid=")
		if needsQuoting(c.SID) {
			b.WriteString(strconv.Quote(c.SID))
		} else {
			b.WriteString(c.SID)
		}
	} else {
		b.WriteString("uid=")
		b.WriteString(strconv.FormatUint(uint64(c.UID), 10))
		b.WriteString(" gid=")
		b.WriteString(strconv.FormatUint(uint64(c.GID), 10))
	}
	if c.PID != 0 {
		b.WriteString(" pid=")
		b.WriteString(strconv.FormatInt(int64(c.PID), 10))
	}
	if c.Executable != "" {
		b.WriteString(" exe=")
		if needsQuoting(c.Executable) {
			b.WriteString(strconv.Quote(c.Executable))
		} else {
			b.WriteString(c.Executable)
		}
	}
	return b.String()
}

func needsQuoting(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	return strings.ContainsFunc(s, func(r rune) bool {
		return r == ' ' || r == '"' || r == '=' || !unicode.IsPrint(r)
	})
}

// LogValue makes c appear in [log/slog] output as a group holding uid,
// gid, pid and exe, or on Windows (when SID is set) sid, pid and exe.
func (c PeerCredentials) LogValue() slog.Value {
	if c.SID != "" {
		return slog.GroupValue(
			slog.String("sid", c.SID),
			slog.Int("pid", int(c.PID)),
			slog.String("exe", c.Executable),
		)
	}
	return slog.GroupValue(
		slog.Uint64("uid", uint64(c.UID)),
		slog.Uint64("gid", uint64(c.GID)),
		slog.Int("pid", int(c.PID)),
		slog.String("exe", c.Executable),
	)
}

// detailError carries a message specific to one path while still matching a
// package sentinel (and its cause, if any) with errors.Is.
type detailError struct {
	sentinel error
	msg      string
	cause    error
}

func (e *detailError) Error() string {
	if e.cause == nil {
		return e.msg
	}
	return e.msg + ": " + e.cause.Error()
}

func (e *detailError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.sentinel}
	}
	return []error{e.sentinel, e.cause}
}
