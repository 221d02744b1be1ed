//go:build !linux

package main

import (
	"syscall"
	"time"
)

// childAttr has nothing to add off Linux.
func childAttr() *syscall.SysProcAttr { return nil }

// newHRPacer falls back to Go's timers off Linux.
func newHRPacer(interval time.Duration) waiter {
	return &timerPacer{start: time.Now(), interval: interval}
}

// CPU time is not measured off Linux.
func selfCPU() (int64, bool)           { return 0, false }
func processCPU(pid int) (int64, bool) { return 0, false }
