package main

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/daemoneye/eventbus/bench/internal/result"
)

// TestMain lets the test binary play the role processes, as natsbench does.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == roleFlag {
		if err := runRole(os.Args[2], os.Args[3:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"nats://127.0.0.1:4222", "127.0.0.1:4222", "nats://localhost:4222", "nats://[::1]:4222", "nats://127.3.2.1:1"} {
		if _, err := checkLoopback(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"nats://10.0.0.1:4222", "nats://192.168.1.2:4222", "nats://example.com:4222", "nats://0.0.0.0:4222", "8.8.8.8:4222"} {
		if _, err := checkLoopback(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestThroughputRow(t *testing.T) {
	t0 := time.Unix(100, 0).UnixNano()
	pr := []childResult{{Sent: 500, StartNS: t0 + 1e6}, {Sent: 500, StartNS: t0}}
	sr := []childResult{{Received: 1000, LastNS: t0 + 5e8}, {Received: 990, LastNS: t0 + 4e8, Disconnects: 1, LastError: "slow consumer"}}
	r := throughputRow("pubsub-2x2", pr, sr, 128)
	if r.Sent != 2000 || r.Delivered != 1990 || r.Lost != 10 || r.Seconds != 0.5 || r.MsgsPerSec != 3980 || r.BytesPerSec != 3980*128 {
		t.Errorf("row %+v", r)
	}
	if r.Note == "" {
		t.Error("losses and disconnects not noted")
	}
}

// startTestServer starts a nats-server on loopback for one test, which it
// skips when nats-server is not on PATH or with -short.
func startTestServer(t *testing.T) *server {
	t.Helper()
	if _, err := exec.LookPath("nats-server"); err != nil {
		t.Skip("nats-server not installed (apt-get install nats-server)")
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	s, err := startServer("nats-server")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

// TestScenarios runs every scenario briefly against a nats-server this
// test starts on loopback. It needs nats-server on PATH.
func TestScenarios(t *testing.T) {
	s := startTestServer(t)
	b := &bench{url: s.url, serverPid: s.cmd.Process.Pid, cfg: config{count: 2000, size: 128, rate: 2000, latCount: 200, reqCount: 100,
		warmup: 10, quiet: 500 * time.Millisecond, timeout: time.Minute}}
	for _, name := range allScenarios {
		row, err := b.scenario(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		switch r := row.(type) {
		case result.Throughput:
			want := int64(2000 * r.Publishers * r.Subscribers)
			if r.Sent != want || r.Delivered != want || r.Lost != 0 || r.MsgsPerSec <= 0 {
				t.Errorf("%s: %+v", name, r)
			}
			if _, measured := selfCPU(); measured {
				// Every process is counted: the server, the publishers
				// and the subscribers.
				if r.CPUNsPerMsg <= 0 || r.CPUByRole["broker"] <= 0 || r.CPUByRole["publishers"] <= 0 ||
					r.CPUByRole["subscribers"] <= 0 || len(r.CPUByRole) != 3 {
					t.Errorf("%s: CPU per delivery %v, by role %v", name, r.CPUNsPerMsg, r.CPUByRole)
				}
			}
		case result.Latency:
			if r.Count != 200 || r.P50US <= 0 || len(r.Percentiles) != len(result.Percentiles) {
				t.Errorf("%s: %+v", name, r)
			}
		case result.ReqRep:
			if r.Count != 100 || r.PerSec <= 0 || r.P99US <= 0 {
				t.Errorf("%s: %+v", name, r)
			}
		}
		t.Log(summary(row))
	}
}

// A server this program did not start cannot be measured, so its rows
// carry no CPU time rather than a partial one.
func TestNoCPUForAServerNotStartedHere(t *testing.T) {
	s := startTestServer(t)
	b := &bench{url: s.url, cfg: config{count: 2000, size: 128, quiet: 500 * time.Millisecond, timeout: time.Minute}}
	r, err := b.throughput("pubsub-1x1", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Delivered != 2000 || r.CPUNsPerMsg != 0 || r.CPUByRole != nil {
		t.Errorf("delivered %d, CPU per delivery %v by role %v; want 2000 and none", r.Delivered, r.CPUNsPerMsg, r.CPUByRole)
	}
}
