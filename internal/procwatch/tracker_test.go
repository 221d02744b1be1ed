package procwatch

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/daemoneye/eventbus/procfs"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// memSource is a process table in memory. Walk lists pids in ascending
// order; failAfter > 0 makes Walk fail after that many processes.
type memSource struct {
	procs     map[uint32]procfs.Stat
	details   map[uint32]procfs.Details
	failAfter int
}

func newMemSource() *memSource {
	return &memSource{procs: map[uint32]procfs.Stat{}, details: map[uint32]procfs.Details{}}
}

func (m *memSource) set(pid, ppid uint32, comm string, start uint64, uid uint32) {
	m.procs[pid] = procfs.Stat{PID: pid, PPID: ppid, Comm: comm, State: 'S', StartTicks: start}
	m.details[pid] = procfs.Details{
		Cmdline: comm + " --pid " + fmt.Sprint(pid), Exe: "/bin/" + comm,
		UIDs: procfs.UIDs{Real: uid, Effective: uid, Saved: uid, FS: uid}, HasUIDs: true,
	}
}

func (m *memSource) Walk(fn func(procfs.Stat) bool) (int, error) {
	pids := make([]uint32, 0, len(m.procs))
	for pid := range m.procs {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	for i, pid := range pids {
		if m.failAfter > 0 && i == m.failAfter {
			return 0, errors.New("memSource: read error")
		}
		if !fn(m.procs[pid]) {
			break
		}
	}
	return 0, nil
}

func (m *memSource) Stat(pid uint32) (procfs.Stat, error) {
	st, ok := m.procs[pid]
	if !ok {
		return procfs.Stat{}, fs.ErrNotExist
	}
	return st, nil
}

func (m *memSource) Details(pid uint32) procfs.Details { return m.details[pid] }

func (m *memSource) StartTime(ticks uint64) time.Time {
	return time.Unix(1700000000, 0).Add(time.Duration(ticks) * 10 * time.Millisecond)
}

type fakeUsers map[uint32]string

func (u fakeUsers) Name(uid uint32) string {
	if n, ok := u[uid]; ok {
		return n
	}
	return fmt.Sprint(uid)
}

var testUsers = fakeUsers{0: "root", 1000: "alice"}

// summary renders events as "START 12 (name)" lines for comparison.
func summary(evs []*pb.ProcessEvent) []string {
	var out []string
	for _, e := range evs {
		kind := strings.TrimPrefix(e.Kind.String(), "KIND_")
		out = append(out, fmt.Sprintf("%s %d %s", kind, e.Pid, e.Name))
	}
	slices.Sort(out)
	return out
}

func mustScan(t *testing.T, tr *tracker, report bool) scanResult {
	t.Helper()
	res, err := tr.scan(time.Unix(1700001000, 0), report)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestTrackerStartStop(t *testing.T) {
	src := newMemSource()
	src.set(1, 0, "init", 1, 0)
	src.set(100, 1, "sshd", 50, 0)
	tr := newTracker(src, testUsers, 100)

	if res := mustScan(t, tr, false); len(res.events) != 0 || res.tracked != 2 {
		t.Fatalf("first scan: %v, %d tracked; want no events, 2 tracked", summary(res.events), res.tracked)
	}
	if res := mustScan(t, tr, true); len(res.events) != 0 {
		t.Fatalf("unchanged scan: %v", summary(res.events))
	}

	src.set(200, 100, "bash", 300, 1000)
	res := mustScan(t, tr, true)
	if got := summary(res.events); !slices.Equal(got, []string{"START 200 bash"}) {
		t.Fatalf("after a start: %v", got)
	}
	ev := res.events[0]
	want := &pb.ProcessEvent{
		Kind: pb.ProcessEvent_KIND_START, Pid: 200, Ppid: 100, Name: "bash",
		ExecutablePath: "/bin/bash", CommandLine: "bash --pid 200", User: "alice",
		StartTimeUnixNano: time.Unix(1700000003, 0).UnixNano(),
		ObservedUnixNano:  time.Unix(1700001000, 0).UnixNano(),
	}
	if ev.String() != want.String() {
		t.Fatalf("START event:\n got %v\nwant %v", ev, want)
	}

	// The parent exits and init adopts bash; then bash exits too.
	delete(src.procs, 100)
	st := src.procs[200]
	st.PPID = 1
	src.procs[200] = st
	if got := summary(mustScan(t, tr, true).events); !slices.Equal(got, []string{"STOP 100 sshd"}) {
		t.Fatalf("after an exit: %v", got)
	}
	delete(src.procs, 200)
	res = mustScan(t, tr, true)
	if got := summary(res.events); !slices.Equal(got, []string{"STOP 200 bash"}) {
		t.Fatalf("after the second exit: %v", got)
	}
	if stop := res.events[0]; stop.Ppid != 1 || stop.CommandLine != "bash --pid 200" || stop.User != "alice" {
		t.Fatalf("STOP event %v: want the START's details with ppid 1", stop)
	}
	if res.tracked != 1 {
		t.Fatalf("%d tracked, want 1", res.tracked)
	}
}

func TestTrackerInitial(t *testing.T) {
	src := newMemSource()
	src.set(1, 0, "init", 1, 0)
	src.set(2, 0, "kthreadd", 1, 0)
	tr := newTracker(src, testUsers, 100)
	if got := summary(mustScan(t, tr, true).events); !slices.Equal(got, []string{"START 1 init", "START 2 kthreadd"}) {
		t.Fatalf("initial scan reported: %v", got)
	}
}

func TestTrackerPIDReuse(t *testing.T) {
	src := newMemSource()
	src.set(1, 0, "init", 1, 0)
	src.set(300, 1, "old", 100, 0)
	tr := newTracker(src, testUsers, 100)
	mustScan(t, tr, false)

	src.set(300, 1, "new", 900, 1000) // same pid, another start time
	res := mustScan(t, tr, true)
	if len(res.events) != 2 {
		t.Fatalf("pid reuse: %v, want a STOP and a START", summary(res.events))
	}
	stop, start := res.events[0], res.events[1]
	if stop.Kind != pb.ProcessEvent_KIND_STOP || stop.Name != "old" || start.Kind != pb.ProcessEvent_KIND_START || start.Name != "new" {
		t.Fatalf("pid reuse: got %v then %v, want STOP old then START new", stop, start)
	}
	if res.tracked != 2 {
		t.Fatalf("%d tracked, want 2", res.tracked)
	}
	if got := summary(mustScan(t, tr, true).events); len(got) != 0 {
		t.Fatalf("scan after the reuse: %v", got)
	}
}

func TestTrackerBound(t *testing.T) {
	src := newMemSource()
	for pid := uint32(1); pid <= 5; pid++ {
		src.set(pid, 0, "p", uint64(pid), 0)
	}
	tr := newTracker(src, testUsers, 3)
	res := mustScan(t, tr, true)
	if len(res.events) != 3 || res.tracked != 3 || res.untracked != 2 {
		t.Fatalf("%d events, %d tracked, %d untracked; want 3, 3, 2", len(res.events), res.tracked, res.untracked)
	}
	delete(src.procs, 1)
	res = mustScan(t, tr, true)
	if got := summary(res.events); !slices.Equal(got, []string{"STOP 1 p"}) || res.untracked != 2 {
		t.Fatalf("after an exit at the bound: %v, %d untracked", got, res.untracked)
	}
	// The room pid 1 left goes, at the next scan, to a process not tracked
	// before, reported as a start only now.
	res = mustScan(t, tr, true)
	if got := summary(res.events); !slices.Equal(got, []string{"START 4 p"}) || res.untracked != 1 || res.tracked != 3 {
		t.Fatalf("scan after that: %v, %d untracked, %d tracked", got, res.untracked, res.tracked)
	}
}

func TestTrackerFailedWalkKeepsProcesses(t *testing.T) {
	src := newMemSource()
	for pid := uint32(1); pid <= 4; pid++ {
		src.set(pid, 0, "p", uint64(pid), 0)
	}
	tr := newTracker(src, testUsers, 100)
	mustScan(t, tr, false)
	src.set(5, 0, "q", 5, 0)
	src.failAfter = 2
	res, err := tr.scan(time.Now(), true)
	if err == nil || len(res.events) != 0 || res.tracked != 4 {
		t.Fatalf("failed walk: %v, %v, %d tracked; want an error, no stops, 4 tracked", err, summary(res.events), res.tracked)
	}
	src.failAfter = 0
	if got := summary(mustScan(t, tr, true).events); !slices.Equal(got, []string{"START 5 q"}) {
		t.Fatalf("after recovery: %v", got)
	}
}

func TestProcessTree(t *testing.T) {
	src := newMemSource()
	src.set(1, 0, "init", 1, 0)
	src.set(10, 1, "sshd", 5, 0)
	src.set(20, 10, "bash", 9, 1000)
	src.set(30, 20, "vim", 12, 1000)
	evs, err := processTree(src, testUsers, 30, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var pids []uint32
	for _, e := range evs {
		if e.Kind != pb.ProcessEvent_KIND_MODIFY {
			t.Fatalf("tree event of kind %v", e.Kind)
		}
		pids = append(pids, e.Pid)
	}
	if !slices.Equal(pids, []uint32{30, 20, 10, 1}) {
		t.Fatalf("tree of 30: %v", pids)
	}
	if _, err := processTree(src, testUsers, 99, time.Now()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("tree of a missing pid: %v", err)
	}
	// An ancestor gone, and a cycle, end the walk.
	src.set(40, 41, "orphan", 1, 0)
	if evs, err := processTree(src, testUsers, 40, time.Now()); err != nil || len(evs) != 1 {
		t.Fatalf("tree with a missing parent: %d events, %v", len(evs), err)
	}
	src.set(50, 51, "a", 1, 0)
	src.set(51, 50, "b", 1, 0)
	if evs, err := processTree(src, testUsers, 50, time.Now()); err != nil || len(evs) != 2 {
		t.Fatalf("tree with a cycle: %d events, %v", len(evs), err)
	}
}
