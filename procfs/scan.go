package procfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// DefaultClockTicks is USER_HZ, the unit of start times in /proc/<pid>/stat.
// The kernel fixes it at 100 on every architecture Linux supports today;
// System reads the real value from the auxiliary vector (AT_CLKTCK), as
// sysconf(_SC_CLK_TCK) does, and falls back to this.
const DefaultClockTicks = 100

// readDirBatch is how many directory entries a walk reads at a time, so
// that a walk holds a bounded number of entries whatever the process count.
const readDirBatch = 512

// Scanner reads processes from a proc tree. It holds no mutable state, so it
// is safe for concurrent use.
type Scanner struct {
	root  string
	boot  time.Time
	ticks uint64
}

// NewScanner returns a Scanner for the proc tree at root. It reads the boot
// time from <root>/stat. clockTicks is the unit of start times, ticks per
// second; zero means DefaultClockTicks.
func NewScanner(root string, clockTicks uint64) (*Scanner, error) {
	if clockTicks == 0 {
		clockTicks = DefaultClockTicks
	}
	b, err := os.ReadFile(filepath.Join(root, "stat"))
	if err != nil {
		return nil, fmt.Errorf("procfs: boot time: %w", err)
	}
	btime, err := ParseBootTime(b)
	if err != nil {
		return nil, err
	}
	return &Scanner{root: root, boot: time.Unix(btime, 0), ticks: clockTicks}, nil
}

// Root returns the directory the Scanner reads.
func (s *Scanner) Root() string { return s.root }

// BootTime returns the system's boot time, to the second.
func (s *Scanner) BootTime() time.Time { return s.boot }

// StartTime turns a start time in clock ticks since boot into wall-clock
// time. It is as precise as the boot time: about a second.
func (s *Scanner) StartTime(ticks uint64) time.Time {
	sec, rem := ticks/s.ticks, ticks%s.ticks
	return s.boot.Add(time.Duration(sec)*time.Second + time.Duration(rem)*time.Second/time.Duration(s.ticks))
}

// Walk calls fn with the Stat of every process in the tree, in directory
// order, until fn returns false. Processes that vanish while the tree is read
// are skipped; so are those whose stat cannot be read or parsed, which Walk
// counts in skipped. The error is about the tree itself.
func (s *Scanner) Walk(fn func(Stat) bool) (skipped int, err error) {
	d, err := os.Open(s.root)
	if err != nil {
		return 0, fmt.Errorf("procfs: %w", err)
	}
	defer d.Close()
	for {
		ents, err := d.ReadDir(readDirBatch)
		for _, e := range ents {
			pid, ok := ParsePID(e.Name())
			if !ok {
				continue
			}
			st, err := s.Stat(pid)
			if err != nil {
				if !Vanished(err) {
					skipped++
				}
				continue
			}
			if !fn(st) {
				return skipped, nil
			}
		}
		if errors.Is(err, io.EOF) {
			return skipped, nil
		}
		if err != nil {
			return skipped, fmt.Errorf("procfs: %w", err)
		}
	}
}

// Stat reads one process's stat file.
func (s *Scanner) Stat(pid uint32) (Stat, error) {
	b, err := os.ReadFile(s.path(pid, "stat"))
	if err != nil {
		return Stat{}, err
	}
	st, err := ParseStat(b)
	if err != nil {
		return Stat{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	if st.PID != pid {
		return Stat{}, fmt.Errorf("%w: %s names pid %d", ErrMalformed, s.path(pid, "stat"), st.PID)
	}
	return st, nil
}

// Details is what a scan reads only for processes it has not seen before.
// A field that cannot be read is left at its zero value.
type Details struct {
	// Cmdline is the command line, see ParseCmdline.
	Cmdline string
	// Exe is the executable's path. Empty for kernel threads, for exited
	// processes, and for other users' processes without CAP_SYS_PTRACE. It
	// ends in " (deleted)" when the file was removed or replaced.
	Exe string
	// UIDs holds the user ids, when HasUIDs is true.
	UIDs    UIDs
	HasUIDs bool
}

// Details reads the command line, executable and user ids of pid.
func (s *Scanner) Details(pid uint32) Details {
	var d Details
	if b, err := readAtMost(s.path(pid, "cmdline"), MaxCmdline); err == nil {
		d.Cmdline = ParseCmdline(b)
	}
	if exe, err := os.Readlink(s.path(pid, "exe")); err == nil {
		d.Exe = text([]byte(exe))
	}
	if b, err := os.ReadFile(s.path(pid, "status")); err == nil {
		if ids, err := ParseStatusUIDs(b); err == nil {
			d.UIDs, d.HasUIDs = ids, true
		}
	}
	return d
}

// Vanished reports whether err means the process is gone: its directory
// or file no longer exists, or the kernel says there is no such process.
func Vanished(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

func (s *Scanner) path(pid uint32, file string) string {
	return filepath.Join(s.root, strconv.FormatUint(uint64(pid), 10), file)
}

// readAtMost reads up to n bytes of a file.
func readAtMost(name string, n int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n))
}
