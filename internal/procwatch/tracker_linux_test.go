//go:build linux

package procwatch

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/daemoneye/eventbus/procfs"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// TestTrackerRealProc scans this machine's /proc: a child started between
// two scans is a START with this process as parent, and a STOP once it was
// killed and reaped. Other processes may come and go meanwhile; only the
// child's events count.
func TestTrackerRealProc(t *testing.T) {
	sc, err := procfs.System()
	if err != nil {
		t.Fatal(err)
	}
	tr := newTracker(sc, procfs.NewUserNames(0), DefaultMaxProcesses)
	scan := func() []*pb.ProcessEvent {
		t.Helper()
		res, err := tr.scan(time.Now(), true)
		if err != nil {
			t.Fatal(err)
		}
		return res.events
	}
	if res, err := tr.scan(time.Now(), false); err != nil || res.tracked == 0 || len(res.events) != 0 {
		t.Fatalf("first scan: %d tracked, %d events, %v", res.tracked, len(res.events), err)
	}

	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := uint32(cmd.Process.Pid)

	start := find(scan(), pid)
	if start == nil || start.Kind != pb.ProcessEvent_KIND_START {
		t.Fatalf("no START for the child %d: %v", pid, start)
	}
	if start.Ppid != uint32(os.Getpid()) || start.CommandLine != "sleep 30" || start.Name != "sleep" || start.ExecutablePath == "" {
		t.Fatalf("START: %v", start)
	}
	if ev := find(scan(), pid); ev != nil {
		t.Fatalf("unchanged child reported again: %v", ev)
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	stop := find(scan(), pid)
	if stop == nil || stop.Kind != pb.ProcessEvent_KIND_STOP || stop.CommandLine != "sleep 30" {
		t.Fatalf("no STOP for the child %d: %v", pid, stop)
	}
}

func find(evs []*pb.ProcessEvent, pid uint32) *pb.ProcessEvent {
	for _, e := range evs {
		if e.Pid == pid {
			return e
		}
	}
	return nil
}
