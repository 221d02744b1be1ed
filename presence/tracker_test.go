package presence

import (
	"fmt"
	"strings"
	"testing"
	"time"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// step is one input to a tracker at t0+at, and the transitions it must
// produce, written as "collector/instance PREVIOUS>STATE reason".
type step struct {
	at   time.Duration
	beat *pb.Heartbeat // or
	end  uint64        // a session that ended, with endReason, or
	tick bool
	// endReason goes with end.
	endReason string
	want      []string
}

func beat(collector, instance string, session uint64, intervalMs uint32, status string) *pb.Heartbeat {
	return &pb.Heartbeat{Collector: collector, InstanceId: instance, SessionId: session, IntervalMs: intervalMs, Status: status}
}

func describe(s *pb.CollectorStatus) string {
	short := func(st pb.CollectorStatus_State) string { return strings.TrimPrefix(st.String(), "STATE_") }
	return fmt.Sprintf("%s/%s %s>%s %s", s.Collector, s.InstanceId, short(s.Previous), short(s.State), s.Reason)
}

func run(t *testing.T, tr *Tracker, steps []step) {
	t.Helper()
	for i, s := range steps {
		now := t0.Add(s.at)
		var got []*pb.CollectorStatus
		switch {
		case s.beat != nil:
			got = tr.Heartbeat(s.beat, now)
		case s.end != 0:
			got = tr.SessionEnded(s.end, s.endReason, now)
		case s.tick:
			got = tr.Tick(now)
		default:
			t.Fatalf("step %d does nothing", i)
		}
		var desc []string
		for _, g := range got {
			desc = append(desc, describe(g))
			if g.ChangedUnixNano != now.UnixNano() && g.Previous != g.State {
				t.Errorf("step %d: %s changed at %d, want %d", i, describe(g), g.ChangedUnixNano, now.UnixNano())
			}
		}
		if strings.Join(desc, "; ") != strings.Join(s.want, "; ") {
			t.Fatalf("step %d (at %v): got transitions\n  %q\nwant\n  %q", i, s.at, desc, s.want)
		}
	}
}

func TestTrackerTransitions(t *testing.T) {
	const sec = time.Second
	cases := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{
			name: "first heartbeat makes a collector alive",
			steps: []step{
				{at: 0, beat: beat("procmond", "h-1", 7, 1000, "ok"), want: []string{"procmond/h-1 UNSPECIFIED>ALIVE first heartbeat"}},
				{at: sec, beat: beat("procmond", "h-1", 7, 1000, "ok")},
			},
		},
		{
			name: "silent for more than missed beats times the interval is lost",
			steps: []step{
				{at: 0, beat: beat("procmond", "h-1", 7, 1000, "ok"), want: []string{"procmond/h-1 UNSPECIFIED>ALIVE first heartbeat"}},
				{at: 3 * sec, tick: true}, // exactly 3 beats: not yet
				{at: 3*sec + 1, tick: true, want: []string{"procmond/h-1 ALIVE>LOST missed 3 beats (3s)"}},
				{at: 10 * sec, tick: true}, // lost once, not again
			},
		},
		{
			name: "a beat without an interval uses the default interval",
			cfg:  Config{DefaultInterval: 2 * sec, MissedBeats: 2},
			steps: []step{
				{at: 0, beat: beat("netmond", "", 3, 0, ""), want: []string{"netmond/ UNSPECIFIED>ALIVE first heartbeat"}},
				{at: 4 * sec, tick: true},
				{at: 5 * sec, tick: true, want: []string{"netmond/ ALIVE>LOST missed 2 beats (4s)"}},
			},
		},
		{
			name: "each beat moves the deadline",
			steps: []step{
				{at: 0, beat: beat("procmond", "h-1", 7, 1000, "ok"), want: []string{"procmond/h-1 UNSPECIFIED>ALIVE first heartbeat"}},
				{at: 2 * sec, beat: beat("procmond", "h-1", 7, 1000, "ok")},
				{at: 4 * sec, tick: true},
				{at: 5*sec + 1, tick: true, want: []string{"procmond/h-1 ALIVE>LOST missed 3 beats (3s)"}},
			},
		},
		{
			name: "a lost collector that beats again is alive",
			steps: []step{
				{at: 0, beat: beat("procmond", "h-1", 7, 1000, "ok"), want: []string{"procmond/h-1 UNSPECIFIED>ALIVE first heartbeat"}},
				{at: 4 * sec, tick: true, want: []string{"procmond/h-1 ALIVE>LOST missed 3 beats (3s)"}},
				{at: 5 * sec, beat: beat("procmond", "h-1", 7, 1000, "ok"), want: []string{"procmond/h-1 LOST>ALIVE heartbeat resumed"}},
				{at: 6 * sec, tick: true},
			},
		},
		{
			name: "its session ending disconnects a collector at once",
			steps: []step{
				{at: 0, beat: beat("procmond", "h-1", 7, 60000, "ok"), want: []string{"procmond/h-1 UNSPECIFIED>ALIVE first heartbeat"}},
				{at: sec, end: 8, endReason: "closed"}, // another session
				{at: sec, end: 7, endReason: "timeout", want: []string{"procmond/h-1 ALIVE>DISCONNECTED connection ended: timeout"}},
				{at: 2 * sec, end: 7, endReason: "timeout"}, // once
				{at: time.Hour, tick: true},                 // disconnected collectors are not lost
			},
		},
		{
			name: "a lost collector's session ending disconnects it",
			steps: []step{
				{at: 0, beat: beat("procmond", "h-1", 7, 1000, "ok"), want: []string{"procmond/h-1 UNSPECIFIED>ALIVE first heartbeat"}},
				{at: 4 * sec, tick: true, want: []string{"procmond/h-1 ALIVE>LOST missed 3 beats (3s)"}},
				{at: 5 * sec, end: 7, want: []string{"procmond/h-1 LOST>DISCONNECTED connection ended"}},
			},
		},
		{
			name: "a disconnected collector that beats again is alive",
			steps: []step{
				{at: 0, beat: beat("procmond", "h-1", 7, 1000, "ok"), want: []string{"procmond/h-1 UNSPECIFIED>ALIVE first heartbeat"}},
				{at: sec, end: 7, endReason: "closed", want: []string{"procmond/h-1 ALIVE>DISCONNECTED connection ended: closed"}},
				{at: 2 * sec, beat: beat("procmond", "h-1", 9, 1000, "ok"), want: []string{"procmond/h-1 DISCONNECTED>ALIVE heartbeat resumed"}},
				{at: 3 * sec, end: 7}, // the old session again: no longer this collector's
			},
		},
		{
			name: "only the session of the last beat counts",
			steps: []step{
				{at: 0, beat: beat("procmond", "h-1", 7, 1000, "ok"), want: []string{"procmond/h-1 UNSPECIFIED>ALIVE first heartbeat"}},
				{at: sec, beat: beat("procmond", "h-1", 9, 1000, "ok")}, // reconnected
				{at: sec, end: 7, endReason: "closed"},
				{at: sec, end: 9, endReason: "closed", want: []string{"procmond/h-1 ALIVE>DISCONNECTED connection ended: closed"}},
			},
		},
		{
			name: "one session ending disconnects all its collectors, sorted",
			steps: []step{
				{at: 0, beat: beat("b", "2", 7, 1000, ""), want: []string{"b/2 UNSPECIFIED>ALIVE first heartbeat"}},
				{at: 0, beat: beat("a", "1", 7, 1000, ""), want: []string{"a/1 UNSPECIFIED>ALIVE first heartbeat"}},
				{at: 0, beat: beat("b", "1", 7, 1000, ""), want: []string{"b/1 UNSPECIFIED>ALIVE first heartbeat"}},
				{at: 0, beat: beat("c", "1", 8, 1000, ""), want: []string{"c/1 UNSPECIFIED>ALIVE first heartbeat"}},
				{at: sec, end: 7, want: []string{
					"a/1 ALIVE>DISCONNECTED connection ended",
					"b/1 ALIVE>DISCONNECTED connection ended",
					"b/2 ALIVE>DISCONNECTED connection ended",
				}},
			},
		},
		{
			name: "collectors are lost one by one by their own intervals",
			steps: []step{
				{at: 0, beat: beat("fast", "", 1, 100, ""), want: []string{"fast/ UNSPECIFIED>ALIVE first heartbeat"}},
				{at: 0, beat: beat("slow", "", 2, 10000, ""), want: []string{"slow/ UNSPECIFIED>ALIVE first heartbeat"}},
				{at: sec, tick: true, want: []string{"fast/ ALIVE>LOST missed 3 beats (300ms)"}},
				{at: 31 * sec, tick: true, want: []string{"slow/ ALIVE>LOST missed 3 beats (30s)"}},
			},
		},
		{
			name: "instances of one collector are apart",
			steps: []step{
				{at: 0, beat: beat("procmond", "a", 1, 1000, ""), want: []string{"procmond/a UNSPECIFIED>ALIVE first heartbeat"}},
				{at: 0, beat: beat("procmond", "b", 2, 1000, ""), want: []string{"procmond/b UNSPECIFIED>ALIVE first heartbeat"}},
				{at: 2 * sec, beat: beat("procmond", "b", 2, 1000, "")},
				{at: 4 * sec, tick: true, want: []string{"procmond/a ALIVE>LOST missed 3 beats (3s)"}},
			},
		},
		{
			name: "a new status word is reported",
			steps: []step{
				{at: 0, beat: beat("procmond", "h-1", 7, 1000, "ok"), want: []string{"procmond/h-1 UNSPECIFIED>ALIVE first heartbeat"}},
				{at: sec, beat: beat("procmond", "h-1", 7, 1000, "degraded"), want: []string{`procmond/h-1 ALIVE>ALIVE status "ok" -> "degraded"`}},
				{at: 2 * sec, beat: beat("procmond", "h-1", 7, 1000, "degraded")},
			},
		},
		{
			name: "invalid heartbeats change nothing",
			steps: []step{
				{at: 0, beat: beat("", "x", 1, 1000, "")},
				{at: 0, beat: beat(strings.Repeat("n", MaxCollectorLen+1), "", 1, 1000, "")},
				{at: 0, beat: beat("procmond", strings.Repeat("i", MaxInstanceLen+1), 1, 1000, "")},
				{at: 0, beat: beat("proc\xffmond", "", 1, 1000, "")},
				{at: time.Hour, tick: true},
			},
		},
		{
			name: "a full table ignores new collectors while all are live or lost",
			cfg:  Config{MaxCollectors: 2},
			steps: []step{
				{at: 0, beat: beat("a", "", 1, 1000, ""), want: []string{"a/ UNSPECIFIED>ALIVE first heartbeat"}},
				{at: 0, beat: beat("b", "", 2, 1000, ""), want: []string{"b/ UNSPECIFIED>ALIVE first heartbeat"}},
				{at: 0, beat: beat("c", "", 3, 1000, "")},
				{at: 4 * sec, tick: true, want: []string{"a/ ALIVE>LOST missed 3 beats (3s)", "b/ ALIVE>LOST missed 3 beats (3s)"}},
				{at: 4 * sec, beat: beat("c", "", 3, 1000, "")},
				{at: 4 * sec, beat: beat("a", "", 1, 1000, ""), want: []string{"a/ LOST>ALIVE heartbeat resumed"}}, // known ones still count
			},
		},
		{
			name: "a full table makes room by forgetting the longest disconnected",
			cfg:  Config{MaxCollectors: 3},
			steps: []step{
				{at: 0, beat: beat("a", "", 1, 1000, ""), want: []string{"a/ UNSPECIFIED>ALIVE first heartbeat"}},
				{at: 0, beat: beat("b", "", 2, 1000, ""), want: []string{"b/ UNSPECIFIED>ALIVE first heartbeat"}},
				{at: 0, beat: beat("c", "", 3, 1000, ""), want: []string{"c/ UNSPECIFIED>ALIVE first heartbeat"}},
				{at: 2 * sec, end: 2, want: []string{"b/ ALIVE>DISCONNECTED connection ended"}},
				{at: 3 * sec, end: 1, want: []string{"a/ ALIVE>DISCONNECTED connection ended"}},
				{at: 4 * sec, beat: beat("d", "", 4, 1000, ""), want: []string{"d/ UNSPECIFIED>ALIVE first heartbeat"}},
				// b was forgotten, so it is new again; a was the one left to forget.
				{at: 5 * sec, beat: beat("b", "", 5, 1000, ""), want: []string{"b/ UNSPECIFIED>ALIVE first heartbeat"}},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run(t, NewTracker(tc.cfg), tc.steps)
		})
	}
}

func TestTrackerStatusFields(t *testing.T) {
	tr := NewTracker(Config{})
	tr.Heartbeat(beat("procmond", "h-1", 7, 1000, "ok"), t0)
	got := tr.Heartbeat(beat("procmond", "h-1", 7, 1000, "busy"), t0.Add(time.Second))
	if len(got) != 1 {
		t.Fatalf("got %d transitions", len(got))
	}
	s := got[0]
	if s.Status != "busy" || s.Beats != 2 || s.SessionId != 7 || s.LastSeenUnixNano != t0.Add(time.Second).UnixNano() ||
		s.ChangedUnixNano != t0.UnixNano() || s.State != stateAlive || s.Previous != stateAlive {
		t.Fatalf("status %v", s)
	}
	lost := tr.Tick(t0.Add(time.Hour))
	if len(lost) != 1 || lost[0].LastSeenUnixNano != t0.Add(time.Second).UnixNano() || lost[0].ChangedUnixNano != t0.Add(time.Hour).UnixNano() {
		t.Fatalf("lost %v", lost)
	}
}

func TestTrackerStatusIsBounded(t *testing.T) {
	tr := NewTracker(Config{})
	long := strings.Repeat("é", MaxStatusLen) // 2 bytes each: the cut falls inside a rune at odd lengths
	got := tr.Heartbeat(beat("procmond", "", 1, 0, "x"+long), t0)
	if len(got) != 1 || len(got[0].Status) > MaxStatusLen || !utf8Valid(got[0].Status) {
		t.Fatalf("status %q (%d bytes)", got[0].Status, len(got[0].Status))
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "?") == s }

func TestTrackerTable(t *testing.T) {
	tr := NewTracker(Config{})
	tr.Heartbeat(beat("netmond", "b", 2, 1000, "ok"), t0)
	tr.Heartbeat(beat("procmond", "a", 1, 1000, "ok"), t0)
	tr.Heartbeat(beat("netmond", "a", 3, 1000, "ok"), t0)
	tr.SessionEnded(1, "closed", t0.Add(time.Second))
	tr.Tick(t0.Add(10 * time.Second))

	table := tr.Table()
	var desc []string
	for _, s := range table {
		desc = append(desc, describe(s))
	}
	want := []string{
		"netmond/a ALIVE>LOST missed 3 beats (3s)",
		"netmond/b ALIVE>LOST missed 3 beats (3s)",
		"procmond/a ALIVE>DISCONNECTED connection ended: closed",
	}
	if strings.Join(desc, "\n") != strings.Join(want, "\n") {
		t.Fatalf("table:\n%s\nwant:\n%s", strings.Join(desc, "\n"), strings.Join(want, "\n"))
	}
	// The table is a copy.
	table[0].State = stateAlive
	if tr.Table()[0].State != stateLost {
		t.Fatal("changing the returned table changed the tracker")
	}
}

func TestTrackerStats(t *testing.T) {
	tr := NewTracker(Config{MaxCollectors: 1})
	tr.Heartbeat(beat("a", "", 1, 0, ""), t0)
	tr.Heartbeat(beat("b", "", 2, 0, ""), t0)
	tr.Heartbeat(beat("b", "", 2, 0, ""), t0)
	tr.Heartbeat(nil, t0)
	tr.Heartbeat(beat("", "", 2, 0, ""), t0)
	if got, want := tr.Stats(), (TrackerStats{Collectors: 1, Ignored: 2, Invalid: 2}); got != want {
		t.Fatalf("stats %+v, want %+v", got, want)
	}
}

func TestConfig(t *testing.T) {
	d := DefaultConfig()
	if d.MissedBeats != 3 || d.DefaultInterval != 5*time.Second || d.MaxCollectors != 1024 ||
		d.TickInterval != 2500*time.Millisecond || d.QueueSize != DefaultQueueSize || d.Logger == nil {
		t.Fatalf("defaults %+v", d)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatal(err)
	}
	err := Config{MissedBeats: -1, TickInterval: -1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "MissedBeats") || !strings.Contains(err.Error(), "TickInterval") {
		t.Fatalf("Validate: %v", err)
	}
}
