package procwatch

import (
	"time"

	"github.com/daemoneye/eventbus/procfs"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// source is where processes are read from; *procfs.Scanner is one.
type source interface {
	Walk(fn func(procfs.Stat) bool) (skipped int, err error)
	Stat(pid uint32) (procfs.Stat, error)
	Details(pid uint32) procfs.Details
	StartTime(ticks uint64) time.Time
}

// userNamer turns uids into names; *procfs.UserNames is one.
type userNamer interface {
	Name(uid uint32) string
}

// procInfo is what procwatch keeps about a process and publishes.
type procInfo struct {
	pid, ppid          uint32
	name, exe, cmdline string
	user               string
	start              int64 // unix nanoseconds
}

// describe reads the details of the process st describes.
func describe(src source, users userNamer, st procfs.Stat) procInfo {
	d := src.Details(st.PID)
	p := procInfo{
		pid: st.PID, ppid: st.PPID, name: st.Comm, exe: d.Exe, cmdline: d.Cmdline,
		start: src.StartTime(st.StartTicks).UnixNano(),
	}
	if d.HasUIDs {
		// The effective user, as ps shows it: the one the process acts as.
		p.user = users.Name(d.UIDs.Effective)
	}
	return p
}

func (p *procInfo) event(kind pb.ProcessEvent_Kind, observed time.Time) *pb.ProcessEvent {
	return &pb.ProcessEvent{
		Kind:              kind,
		Pid:               p.pid,
		Ppid:              p.ppid,
		Name:              p.name,
		ExecutablePath:    p.exe,
		CommandLine:       p.cmdline,
		User:              p.user,
		StartTimeUnixNano: p.start,
		ObservedUnixNano:  observed.UnixNano(),
	}
}

// tracker remembers the processes of the previous scan and turns the next
// scan into START and STOP events. It is not safe for concurrent use.
type tracker struct {
	src   source
	users userNamer
	max   int

	gen   uint64 // the scan in progress
	procs map[uint32]*tracked
}

type tracked struct {
	startTicks uint64
	gen        uint64 // the last scan that saw it
	info       procInfo
}

// scanResult is one scan's outcome.
type scanResult struct {
	// events are the changes, in the order they happened to be seen; a
	// reused pid's STOP comes right before its START.
	events []*pb.ProcessEvent
	// tracked counts the processes tracked after the scan; untracked
	// those seen but not tracked because max was reached.
	tracked, untracked int
	// skipped counts processes whose stat could not be read or parsed.
	skipped int
}

func newTracker(src source, users userNamer, max int) *tracker {
	return &tracker{src: src, users: users, max: max, procs: make(map[uint32]*tracked)}
}

// scan reads the tree once. With report false it only records what it finds
// and returns no events: that is the first scan. When the tree cannot be read
// to the end, scan returns the events seen so far and the error, and reports
// no exits: the processes it did not get to are kept.
func (t *tracker) scan(now time.Time, report bool) (scanResult, error) {
	t.gen++
	var res scanResult
	skipped, err := t.src.Walk(func(st procfs.Stat) bool {
		t.observe(st, now, report, &res)
		return true
	})
	res.skipped = skipped
	if err == nil {
		t.sweep(now, report, &res)
	}
	res.tracked = len(t.procs)
	return res, err
}

// observe handles one process of the scan in progress.
func (t *tracker) observe(st procfs.Stat, now time.Time, report bool, res *scanResult) {
	p, ok := t.procs[st.PID]
	if ok && p.startTicks == st.StartTicks {
		p.gen = t.gen
		p.info.ppid = st.PPID // reparented when its parent exited
		return
	}
	if ok {
		// The pid was reused: the process we knew has exited.
		delete(t.procs, st.PID)
		if report {
			res.events = append(res.events, p.info.event(pb.ProcessEvent_KIND_STOP, now))
		}
	}
	if len(t.procs) >= t.max {
		res.untracked++
		return
	}
	p = &tracked{startTicks: st.StartTicks, gen: t.gen, info: describe(t.src, t.users, st)}
	t.procs[st.PID] = p
	if report {
		res.events = append(res.events, p.info.event(pb.ProcessEvent_KIND_START, now))
	}
}

// sweep forgets the processes the scan did not see, which have exited.
func (t *tracker) sweep(now time.Time, report bool, res *scanResult) {
	for pid, p := range t.procs {
		if p.gen == t.gen {
			continue
		}
		delete(t.procs, pid)
		if report {
			res.events = append(res.events, p.info.event(pb.ProcessEvent_KIND_STOP, now))
		}
	}
}

// maxTreeDepth bounds a process-tree walk; real trees are far shallower,
// and the bound also ends a walk that a changing tree would make cycle.
const maxTreeDepth = 256

// processTree reads pid and its ancestors up to pid 1 from src, afresh.
// The walk ends early at an ancestor that has exited meanwhile.
func processTree(src source, users userNamer, pid uint32, now time.Time) ([]*pb.ProcessEvent, error) {
	var out []*pb.ProcessEvent
	seen := make(map[uint32]bool)
	for pid != 0 && !seen[pid] && len(out) < maxTreeDepth {
		seen[pid] = true
		st, err := src.Stat(pid)
		if err != nil {
			if len(out) == 0 {
				return nil, err
			}
			break
		}
		info := describe(src, users, st)
		out = append(out, info.event(pb.ProcessEvent_KIND_MODIFY, now))
		if pid == 1 {
			break
		}
		pid = st.PPID
	}
	return out, nil
}
