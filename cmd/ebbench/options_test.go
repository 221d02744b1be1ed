//go:build unix

package main

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/daemoneye/eventbus/wire"
)

func TestRoleConfigRoundTrip(t *testing.T) {
	for _, c := range []roleConfig{
		{role: roleBroker, socket: "/tmp/x/bus.sock", managed: true, queueMessages: 5, queueBytes: 1 << 30, cpuProfile: "cpu.out"},
		{role: rolePub, socket: "/s", name: "procmond", topic: "events.process.bench", crc: wire.CRCCastagnoli,
			index: 3, count: 7, size: 16, rate: 100, quiet: 2 * time.Second, timeout: time.Minute},
		{role: roleRawSub, addr: "/d/a b.sock", count: 1, latency: true, quiet: time.Second},
		{role: roleRelay, addr: "/d/r.sock", to: "/d/s.sock"},
	} {
		args := c.args()
		if args[0] != "-role="+c.role {
			t.Errorf("%v: role is not first", args)
		}
		if !isRole(args) {
			t.Errorf("%v: not recognised as a role", args)
		}
		got, err := parseRole(args)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if got != c {
			t.Errorf("round trip of %v:\n got %+v\nwant %+v", args, got, c)
		}
	}
	if isRole([]string{"-count", "5"}) || isRole(nil) {
		t.Error("a bench command line taken for a role")
	}
}

func scenarioList(scs []scenario) string {
	var names []string
	for _, sc := range scs {
		names = append(names, sc.name)
	}
	return strings.Join(names, ",")
}

func TestSelectScenarios(t *testing.T) {
	for _, tc := range []struct {
		list string
		raw  bool
		want string
	}{
		{"all", false, "pubsub-1x1,pubsub-1x4,pubsub-4x1,latency,reqrep"},
		{"all", true, "pubsub-1x1,pubsub-1x4,pubsub-4x1,latency,reqrep,raw-1x1,relay-1x1,raw-latency,relay-latency"},
		{"latency", true, "latency,raw-latency,relay-latency"},
		{"reqrep", true, "reqrep,raw-latency,relay-latency"},
		{"pubsub-4x1, latency", false, "pubsub-4x1,latency"},
		{"relay-1x1", false, "relay-1x1"},
		{"pubsub-1x1", true, "pubsub-1x1,raw-1x1,relay-1x1"},
	} {
		got, err := selectScenarios(tc.list, tc.raw)
		if err != nil {
			t.Errorf("%q raw=%v: %v", tc.list, tc.raw, err)
			continue
		}
		if s := scenarioList(got); s != tc.want {
			t.Errorf("%q raw=%v: %s, want %s", tc.list, tc.raw, s, tc.want)
		}
	}
	for _, bad := range []string{"", " , ", "pubsub-2x2", "all,nope"} {
		if _, err := selectScenarios(bad, false); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseOptions(t *testing.T) {
	o, err := parseOptions([]string{"-quick", "-count", "50", "-latency-duration", "2s", "-rate", "300"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.count != 50 || o.latencyCount != 600 || o.reqrepCount != quickReqRepCount {
		t.Errorf("count %d latency %d reqrep %d", o.count, o.latencyCount, o.reqrepCount)
	}
	o, err = parseOptions(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.count != 1_000_000 || o.size != 128 || o.rate != 10_000 || o.latencyCount != 100_000 || o.reqrepCount != 20_000 || len(o.scenarios) != 5 {
		t.Errorf("defaults: %+v", o)
	}
	for _, bad := range [][]string{
		{"-size", "15"}, {"-count", "0"}, {"-rate", "0"}, {"-quiet", "0s"}, {"extra"},
		{"-socket", "/s", "-cpuprofile", "x"}, {"-scenarios", "nope"},
	} {
		if _, err := parseOptions(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	var usage bytes.Buffer
	if _, err := parseOptions([]string{"-h"}, &usage); !errors.Is(err, errUsage) || !strings.Contains(usage.String(), "pubsub-1x4") {
		t.Errorf("-h: %v\n%s", err, usage.String())
	}
}

func TestTally(t *testing.T) {
	tl := newTally(true, 7)
	p := make([]byte, 32)
	now := time.Now().UnixNano()
	for _, m := range []struct {
		index int
		seq   int64
	}{{0, 0}, {0, 1}, {1, 0}, {0, 4}, {0, 2}, {1, 1}} {
		stamp(p, m.index, m.seq, now-int64(50*time.Microsecond))
		tl.observe(p, 1, now)
	}
	tl.observe(p[:8], 0, now)
	r, err := tl.result()
	if err != nil {
		t.Fatal(err)
	}
	want := roleResult{Received: 7, FirstNs: now, LastNs: now, Gaps: 2, Dups: 1, Dropped: 6, Bad: 1}
	r.Hist = ""
	if !reflect.DeepEqual(*r, want) {
		t.Errorf("got %+v\nwant %+v", *r, want)
	}
	h, err := decodeHistogram(func() string { r, _ := tl.result(); return r.Hist }())
	if err != nil {
		t.Fatal(err)
	}
	if h.TotalCount() != 6 || h.ValueAtQuantile(50) < 49_000 || h.ValueAtQuantile(50) > 51_000 {
		t.Errorf("histogram: %d values, p50 %d ns", h.TotalCount(), h.ValueAtQuantile(50))
	}
}

func TestGroup(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -45678: "-45,678"} {
		if got := group(n); got != want {
			t.Errorf("group(%d) = %q, want %q", n, got, want)
		}
	}
}

// syncBuffer is a bytes.Buffer that a child process' output and a test can
// share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Without latencies the tally reads the clock only for the first and the
// last expected message; a run that falls short ends when await last saw
// the count move.
func TestTallyThroughputClock(t *testing.T) {
	tl := newTally(false, 3)
	p := make([]byte, payloadHeader)
	var reads int
	for seq := range int64(3) {
		if tl.needsClock() {
			reads++
		}
		stamp(p, 0, seq, 0)
		tl.observe(p, 0, tl.now())
	}
	r, err := tl.result()
	if err != nil {
		t.Fatal(err)
	}
	if reads != 2 || r.Received != 3 || r.FirstNs == 0 || r.LastNs < r.FirstNs || r.Gaps != 0 {
		t.Errorf("clock read %d times (want 2), result %+v", reads, *r)
	}

	short := newTally(false, 10)
	stamp(p, 0, 0, 0)
	short.observe(p, 0, short.now())
	moved := time.Now().Add(time.Millisecond).UnixNano()
	short.movedNs.Store(moved)
	r, err = short.result()
	if err != nil {
		t.Fatal(err)
	}
	if r.LastNs != moved {
		t.Errorf("lossy run ends at %d, want the last movement %d", r.LastNs, moved)
	}
}
