package main

import (
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

// selfCPU is the CPU time, user and system, this process has used, in
// nanoseconds.
func selfCPU() (int64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), true
}

// processCPU is the CPU time process pid has used, in nanoseconds: the sum
// over its threads of the first field of /proc/<pid>/task/<tid>/schedstat,
// their time on a CPU, which the kernel keeps in nanoseconds (the clock
// ticks of /proc/<pid>/stat are 10 ms, too coarse for a short scenario).
// A thread that exits takes its time with it; nats-server's threads live as
// long as the server.
func processCPU(pid int) (int64, bool) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil || len(tasks) == 0 {
		return 0, false
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // exited since the listing
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, false
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, false
		}
		sum += ns
	}
	return sum, true
}
