//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/daemoneye/eventbus/client"
	"github.com/daemoneye/eventbus/internal/benchfmt"
)

// asMainEnv makes the test binary run ebbench's main instead of the tests,
// so that the tests run the real tool, whose children are the test binary
// again (os.Executable), with the environment they inherit.
const asMainEnv = "EBBENCH_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// ebbench runs the tool with args and TMPDIR set to tmp.
func ebbench(ctx context.Context, tmp string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), asMainEnv+"=1", "TMPDIR="+tmp)
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// shortTemp is a test directory whose path leaves room for socket names.
func shortTemp(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "ebt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestQuickRunEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole tool across processes")
	}
	tmp := shortTemp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := ebbench(ctx, tmp, "-quick", "-json", "-raw")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ebbench -quick -json -raw: %v\nstderr:\n%s", err, stderr.String())
	}
	t.Logf("stderr:\n%s", stderr.String())

	var rep benchfmt.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("output is not one JSON document: %v\n%s", err, stdout.String())
	}
	if rep.Tool != "ebbench" || rep.Version != client.Version || rep.Machine.CPUs < 1 || rep.Machine.Go == "" {
		t.Errorf("header: tool %q version %q machine %+v", rep.Tool, rep.Version, rep.Machine)
	}
	if _, err := time.Parse(time.RFC3339, rep.Started); err != nil {
		t.Errorf("started %q: %v", rep.Started, err)
	}
	if rep.Params != (benchfmt.Params{Count: quickCount, Size: 128, Rate: 10_000}) {
		t.Errorf("params %+v", rep.Params)
	}
	if !bytes.Contains(stdout.Bytes(), []byte(`"lost":0`)) {
		t.Errorf(`throughput rows do not say "lost":0`)
	}

	got := map[string]benchfmt.Result{}
	for _, r := range rep.Results {
		got[r.Scenario] = r
	}
	for _, sc := range scenarios {
		r, ok := got[sc.name]
		if !ok {
			t.Errorf("scenario %s missing", sc.name)
			continue
		}
		if r.System != sc.system || r.Kind != sc.kind {
			t.Errorf("%s: system %q kind %q, want %q %q", sc.name, r.System, r.Kind, sc.system, sc.kind)
		}
		switch sc.kind {
		case kindThroughput:
			checkThroughput(t, sc, r)
		case kindLatency:
			checkLatency(t, r, quickLatencyCount)
		case kindReqRep:
			checkLatency(t, r, quickReqRepCount)
			if r.PerSec <= 0 || r.Seconds <= 0 {
				t.Errorf("%s: per_sec %v seconds %v", r.Scenario, r.PerSec, r.Seconds)
			}
		}
	}
	if len(rep.Results) != len(scenarios) {
		t.Errorf("%d results, want %d", len(rep.Results), len(scenarios))
	}
	assertCleanedUp(t, tmp)
}

func checkThroughput(t *testing.T, sc scenario, r benchfmt.Result) {
	t.Helper()
	want := int64(quickCount * sc.pubs * sc.subs)
	if r.Sent != want || r.Delivered != want || r.Lost != 0 {
		t.Errorf("%s: sent %d delivered %d lost %d, want %d, %d, 0", r.Scenario, r.Sent, r.Delivered, r.Lost, want, want)
	}
	if r.Publishers != sc.pubs || r.Subscribers != sc.subs || r.Size != 128 {
		t.Errorf("%s: %d×%d size %d", r.Scenario, r.Publishers, r.Subscribers, r.Size)
	}
	if r.Seconds <= 0 || r.MsgsPerSec <= 0 || r.BytesPerSec <= 0 {
		t.Errorf("%s: seconds %v msgs/s %v bytes/s %v", r.Scenario, r.Seconds, r.MsgsPerSec, r.BytesPerSec)
	}
	// Every process of the system is counted, and the parts add up.
	roles := map[string][]string{
		systemEventbus: {"broker", "publishers", "subscribers"},
		systemRaw:      {"publishers", "subscribers"},
		systemRelay:    {"publishers", "relay", "subscribers"},
	}[sc.system]
	if got := slices.Sorted(maps.Keys(r.CPUByRole)); !slices.Equal(got, roles) {
		t.Errorf("%s: CPU measured for %v, want %v", r.Scenario, got, roles)
	}
	var sum float64
	for role, ns := range r.CPUByRole {
		if ns <= 0 {
			t.Errorf("%s: %s used %v ns of CPU per delivery", r.Scenario, role, ns)
		}
		sum += ns
	}
	if r.CPUNsPerMsg <= 0 || math.Abs(sum-r.CPUNsPerMsg) > float64(len(roles)) {
		t.Errorf("%s: CPU %v ns per delivery, parts %v summing to %v", r.Scenario, r.CPUNsPerMsg, r.CPUByRole, sum)
	}
}

func checkLatency(t *testing.T, r benchfmt.Result, count int64) {
	t.Helper()
	if r.Count != count {
		t.Errorf("%s: count %d, want %d", r.Scenario, r.Count, count)
	}
	if len(r.Percentiles) != len(benchfmt.Ladder) {
		t.Fatalf("%s: %d percentiles, want %d", r.Scenario, len(r.Percentiles), len(benchfmt.Ladder))
	}
	for i, p := range r.Percentiles {
		if p[0] != benchfmt.Ladder[i] {
			t.Errorf("%s: percentile %d is %v, want %v", r.Scenario, i, p[0], benchfmt.Ladder[i])
		}
		if p[1] <= 0 || i > 0 && p[1] < r.Percentiles[i-1][1] {
			t.Errorf("%s: not positive and increasing: %v", r.Scenario, r.Percentiles)
			break
		}
	}
	named := []float64{r.P50, r.P90, r.P99, r.P999, r.Max}
	if !slices.IsSorted(named) || r.P50 <= 0 || r.Max != r.Percentiles[len(r.Percentiles)-1][1] {
		t.Errorf("%s: p50 %v p90 %v p99 %v p99.9 %v max %v", r.Scenario, r.P50, r.P90, r.P99, r.P999, r.Max)
	}
}

// TestInterruptCleansUp interrupts a long run and checks that ebbench
// exits with 130, leaving no process and no directory behind.
func TestInterruptCleansUp(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole tool across processes")
	}
	tmp := shortTemp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := ebbench(ctx, tmp, "-scenarios", "pubsub-1x4", "-count", "100000000")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until messages flow, so that every child is running.
	for !strings.Contains(stderr.String(), "msgs/s") {
		if ctx.Err() != nil {
			cmd.Process.Kill()
			t.Fatalf("no progress:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 130 {
		t.Errorf("after SIGINT: %v, want exit status 130\n%s", err, stderr.String())
	}
	assertCleanedUp(t, tmp)
}

// assertCleanedUp checks that the run's directory under tmp is gone and
// that no process mentions it on its command line any more.
func assertCleanedUp(t *testing.T, tmp string) {
	t.Helper()
	if left, _ := filepath.Glob(filepath.Join(tmp, "ebbench-*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range cmdlines {
		b, err := os.ReadFile(f)
		if err == nil && bytes.Contains(b, []byte(tmp+"/")) {
			t.Errorf("still running: %s", bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
}
