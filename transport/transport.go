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
	// Connecting needs write permission, so 0660 admits a group.
	SocketMode os.FileMode

	// Group, when not empty, is a group name or numeric gid. Listen gives
	// that group to the socket file and to its directory. Use it with
	// SocketMode 0660 so that a group of collector users can connect.
	Group string
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

// PeerCredentials is who is on the other end of a connection, as the kernel
// reports it.
//
// UID and GID are the peer's effective ids when it connected (for a
// collector asking about the broker: when the broker started listening).
// Base access control on them. Executable is only a label for logs: a process can exec
// another program after connecting.
type PeerCredentials struct {
	UID uint32
	GID uint32
	// PID is 0 when the platform does not report it, or when the peer is
	// in a PID namespace this process cannot see.
	PID int32
	// Executable is the peer's program path, read on Linux from
	// /proc/<pid>/exe when PeerCredentialsOf is called. It is "" when
	// unknown: another platform, no permission to read the link, or the
	// process has gone and its PID could belong to someone else.
	Executable string
}

// String formats c for logs, e.g. "uid=1000 gid=1000 pid=4242
// exe=/usr/bin/procmond". PID and exe are left out when unknown. The peer
// chooses its own executable path, so the path is quoted whenever it could
// be mistaken for more fields or break the log line.
func (c PeerCredentials) String() string {
	var b strings.Builder
	b.WriteString("uid=")
	b.WriteString(strconv.FormatUint(uint64(c.UID), 10))
	b.WriteString(" gid=")
	b.WriteString(strconv.FormatUint(uint64(c.GID), 10))
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
// gid, pid and exe.
func (c PeerCredentials) LogValue() slog.Value {
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
