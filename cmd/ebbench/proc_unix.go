//go:build unix && !linux

package main

import "syscall"

// childProcAttr puts a child in a process group of its own, so that a
// terminal's SIGINT reaches only ebbench, which then stops the children
// itself. Should ebbench die first, each child stops when its stdin ends.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
