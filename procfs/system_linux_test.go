//go:build linux

package procfs

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestSystemFindsChild reads the real /proc: a child it starts is there with
// the right parent and command line, and gone once it was killed and reaped.
func TestSystemFindsChild(t *testing.T) {
	s, err := System()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	pid := uint32(cmd.Process.Pid)
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	var found *Stat
	if _, err := s.Walk(func(st Stat) bool {
		if st.PID == pid {
			found = &st
			return false
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if found == nil {
		t.Fatalf("pid %d not found in /proc", pid)
	}
	if found.PPID != uint32(os.Getpid()) || found.Comm != "sleep" {
		t.Fatalf("child: %+v, want ppid %d and comm sleep", *found, os.Getpid())
	}
	if start := s.StartTime(found.StartTicks); start.After(time.Now().Add(time.Minute)) || start.Before(s.BootTime()) {
		t.Fatalf("start time %v is not between boot (%v) and now", start, s.BootTime())
	}
	d := s.Details(pid)
	if d.Cmdline != "sleep 30" || !d.HasUIDs || d.UIDs.Effective != uint32(os.Geteuid()) {
		t.Fatalf("details: %+v", d)
	}
	if d.Exe == "" {
		t.Errorf("no executable for our own child")
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if _, err := s.Stat(pid); !Vanished(err) {
		t.Fatalf("stat after the child was reaped: %v, want vanished", err)
	}
}

func TestClockTicks(t *testing.T) {
	if ct := ClockTicks(); ct == 0 || ct > 10000 {
		t.Fatalf("ClockTicks() = %d", ct)
	}
}
