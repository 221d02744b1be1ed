package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Errors returned by the package.
var (
	// ErrMalformed: a file's contents do not have the expected layout.
	ErrMalformed = errors.New("procfs: malformed file")
	// ErrUnsupported: the platform has no Linux /proc.
	ErrUnsupported = errors.New("procfs: /proc is read on Linux only")
)

// MaxCmdline bounds the command line kept per process, in bytes. Longer
// command lines are cut there; ARG_MAX allows megabytes, and a collector
// tracking tens of thousands of processes cannot keep them all.
const MaxCmdline = 4096

// Stat is what a scan reads for every process, from /proc/<pid>/stat.
type Stat struct {
	PID  uint32
	PPID uint32
	// Comm is the executable's name as the kernel keeps it (at most 15
	// bytes, changeable by the process through prctl).
	Comm string
	// State is the one-letter state: R, S, D, Z, T, ...
	State byte
	// StartTicks is when the process started, in clock ticks since boot.
	// With the pid it identifies a process: a reused pid has another start.
	StartTicks uint64
}

// statFieldsAfterComm is how many fields after "(comm)" ParseStat needs:
// state (field 3) to starttime (field 22).
const statFieldsAfterComm = 20

// ParseStat parses the contents of /proc/<pid>/stat. The command name sits
// in parentheses and may itself contain spaces and parentheses, so it runs
// from the first '(' to the last ')'.
func ParseStat(b []byte) (Stat, error) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return Stat{}, fmt.Errorf("%w: stat: no (comm)", ErrMalformed)
	}
	pid, err := parseUint32(bytes.TrimSpace(b[:open]))
	if err != nil {
		return Stat{}, fmt.Errorf("%w: stat: pid: %w", ErrMalformed, err)
	}
	rest := bytes.Fields(b[closing+1:])
	if len(rest) < statFieldsAfterComm {
		return Stat{}, fmt.Errorf("%w: stat: %d fields after comm, want at least %d", ErrMalformed, len(rest), statFieldsAfterComm)
	}
	if len(rest[0]) != 1 {
		return Stat{}, fmt.Errorf("%w: stat: state %q", ErrMalformed, rest[0])
	}
	ppid, err := parseUint32(rest[1])
	if err != nil {
		return Stat{}, fmt.Errorf("%w: stat: ppid: %w", ErrMalformed, err)
	}
	start, err := strconv.ParseUint(string(rest[19]), 10, 64)
	if err != nil {
		return Stat{}, fmt.Errorf("%w: stat: starttime: %w", ErrMalformed, err)
	}
	return Stat{
		PID:        pid,
		PPID:       ppid,
		Comm:       text(b[open+1 : closing]),
		State:      rest[0][0],
		StartTicks: start,
	}, nil
}

// ParseCmdline turns the contents of /proc/<pid>/cmdline into one line: the
// NUL-separated arguments joined by spaces, as ps prints them. A process
// that rewrote its arguments (setproctitle) may use spaces and no NULs; that
// is kept as is. Kernel threads and zombies have an empty command line. The
// result is at most MaxCmdline bytes of input.
func ParseCmdline(b []byte) string {
	if len(b) > MaxCmdline {
		b = b[:MaxCmdline]
	}
	b = bytes.TrimRight(b, "\x00")
	return text(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
}

// UIDs are the four user ids of a process, from the Uid: line of
// /proc/<pid>/status.
type UIDs struct {
	Real, Effective, Saved, FS uint32
}

// ParseStatusUIDs finds the Uid: line in the contents of /proc/<pid>/status.
func ParseStatusUIDs(b []byte) (UIDs, error) {
	for line := range bytes.Lines(b) {
		v, ok := bytes.CutPrefix(line, []byte("Uid:"))
		if !ok {
			continue
		}
		f := bytes.Fields(v)
		if len(f) != 4 {
			return UIDs{}, fmt.Errorf("%w: status: Uid: has %d fields, want 4", ErrMalformed, len(f))
		}
		var ids [4]uint32
		for i := range ids {
			id, err := parseUint32(f[i])
			if err != nil {
				return UIDs{}, fmt.Errorf("%w: status: Uid: %w", ErrMalformed, err)
			}
			ids[i] = id
		}
		return UIDs{Real: ids[0], Effective: ids[1], Saved: ids[2], FS: ids[3]}, nil
	}
	return UIDs{}, fmt.Errorf("%w: status: no Uid: line", ErrMalformed)
}

// ParseBootTime finds the btime line in the contents of /proc/stat: the
// boot time in seconds since the Unix epoch.
func ParseBootTime(b []byte) (int64, error) {
	for line := range bytes.Lines(b) {
		v, ok := bytes.CutPrefix(line, []byte("btime "))
		if !ok {
			continue
		}
		sec, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		if err != nil || sec <= 0 {
			return 0, fmt.Errorf("%w: stat: btime %q", ErrMalformed, bytes.TrimSpace(v))
		}
		return sec, nil
	}
	return 0, fmt.Errorf("%w: stat: no btime line", ErrMalformed)
}

// ParsePID parses a /proc directory name; ok is false for anything that is
// not a process directory (self, net, sys, ...).
func ParsePID(name string) (uint32, bool) {
	if name == "" || name[0] < '1' || name[0] > '9' {
		return 0, false
	}
	pid, err := strconv.ParseUint(name, 10, 32)
	return uint32(pid), err == nil
}

func parseUint32(b []byte) (uint32, error) {
	v, err := strconv.ParseUint(string(b), 10, 32)
	return uint32(v), err
}

// text returns b as a string of valid UTF-8.
func text(b []byte) string {
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
