package main

import "syscall"

// childProcAttr puts a child in a process group of its own, so that a
// terminal's SIGINT reaches only ebbench, which then stops the children
// itself, and makes the kernel kill it should ebbench die first.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
