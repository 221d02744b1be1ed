package main

import (
	"runtime"
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
