package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// childAttr makes a role process die with its parent.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// hrPacer releases message i at start + i*interval. Go's timers wake on
// millisecond ticks when a process is otherwise idle, which would turn a
// 10,000 msg/s schedule into bursts of ten, so hrPacer sleeps on the
// kernel's high-resolution timer instead (clock_nanosleep to an absolute
// deadline, with the thread's timer slack set to 1 ns).
type hrPacer struct {
	start    int64
	interval int64
}

// newHRPacer locks the calling goroutine to its thread for the pacing loop.
func newHRPacer(interval time.Duration) *hrPacer {
	runtime.LockOSThread()
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	return &hrPacer{start: monoNow(), interval: int64(interval)}
}

// wait sleeps until message i is due.
func (p *hrPacer) wait(i int) {
	due := p.start + int64(i)*p.interval
	if monoNow() >= due {
		return
	}
	ts := unix.NsecToTimespec(due)
	for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil) == unix.EINTR {
	}
}

func monoNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// processCPUOf is the CPU time, user and system, that process pid has
// used, in nanoseconds; pid 0 is this process. Another process's comes
// from /proc/<pid>/stat, in the kernel's clock ticks of 10 ms (USER_HZ is
// 100 on Linux), so a scenario reads it to about ±10 ms.
func processCPUOf(pid int) (int64, bool) {
	if pid == 0 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return 0, false
		}
		return ru.Utime.Nano() + ru.Stime.Nano(), true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces: the fields
	// counted in proc(5) start after its closing parenthesis, with
	// utime and stime the 14th and 15th.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const userHZ = 100
	return (utime + stime) * (int64(time.Second) / userHZ), true
}
