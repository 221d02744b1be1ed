package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/daemoneye/eventbus/bench/internal/result"
)

func file(t *testing.T, system string, mps, p99 float64) *result.File {
	t.Helper()
	return fileWithCPU(t, system, mps, p99, 0, nil)
}

func fileWithCPU(t *testing.T, system string, mps, p99, cpu float64, byRole map[string]float64) *result.File {
	t.Helper()
	rep := result.Report{Tool: system + "bench", Params: result.Params{Count: 100, Size: 128, Rate: 10000}}
	_ = rep.Add(result.Throughput{System: system, Scenario: "pubsub-1x1", Kind: result.KindThroughput, MsgsPerSec: mps, Sent: 100, Delivered: 100,
		CPUNsPerMsg: cpu, CPUByRole: byRole})
	_ = rep.Add(result.Latency{System: system, Scenario: "latency", Kind: result.KindLatency, Rate: 10000, Dist: result.Dist{P50US: p99 / 2, P99US: p99}})
	data, _ := json.Marshal(rep)
	f, err := result.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestMergeKeepsMedianRun(t *testing.T) {
	fs := []*result.File{file(t, "nats", 300, 90), file(t, "nats", 100, 10), file(t, "nats", 200, 50)}
	rep, err := merge(fs)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Runs != 3 || len(rep.Results) != 2 {
		t.Fatalf("runs %d, %d rows", rep.Runs, len(rep.Results))
	}
	var th, lat result.Row
	_ = json.Unmarshal(rep.Results[0], &th)
	_ = json.Unmarshal(rep.Results[1], &lat)
	if th.MsgsPerSec != 200 || lat.P99US != 50 {
		t.Errorf("median rows: %v msg/s, p99 %v; want 200 and 50", th.MsgsPerSec, lat.P99US)
	}
}

func TestTableRatios(t *testing.T) {
	eb := file(t, "eventbus", 2_000_000, 100)
	nt := file(t, "nats", 1_000_000, 400)
	var b bytes.Buffer
	writeTables(&b, []*result.File{eb, nt})
	out := b.String()
	for _, want := range []string{
		"| pubsub-1x1 | 2,000,000 | 1,000,000 | 2.00× | – | – |",
		"| eventbus/nats | 0.25× | – | 0.25× | – | – |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// The bus's non-default options are named in the table's header, so that
// a tuned run cannot pass for a default one.
func TestTableNamesOptions(t *testing.T) {
	eb := file(t, "eventbus", 2_000_000, 100)
	eb.Report.Params.CRC, eb.Report.Params.ReuseMessages = "castagnoli", true
	plain := file(t, "nats", 1_000_000, 400)
	var b bytes.Buffer
	writeTables(&b, []*result.File{eb, plain})
	lines := strings.Split(b.String(), "\n")
	if !strings.Contains(lines[0], "rate 10000/s, crc castagnoli, reuse-messages") {
		t.Errorf("header of the tuned run lacks its options: %q", lines[0])
	}
	if strings.Contains(lines[1], "crc") || strings.Contains(lines[1], "reuse") {
		t.Errorf("header of a default run names options: %q", lines[1])
	}
}

// The CPU table shows each system's CPU time per delivery, split by kind
// of process, and the bus's over NATS's; it is left out without them.
func TestTableCPU(t *testing.T) {
	eb := fileWithCPU(t, "eventbus", 2_000_000, 100, 1105, map[string]float64{"broker": 480, "publishers": 170, "subscribers": 455})
	nt := fileWithCPU(t, "nats", 1_000_000, 400, 1300, map[string]float64{"broker": 600, "publishers": 100, "subscribers": 600})
	var b bytes.Buffer
	writeTables(&b, []*result.File{eb, nt})
	want := "| pubsub-1x1 | 1,105 (broker 480, pub 170, sub 455) | 1,300 (broker 600, pub 100, sub 600) | 0.85× |"
	if !strings.Contains(b.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, b.String())
	}
	b.Reset()
	writeTables(&b, []*result.File{file(t, "eventbus", 2_000_000, 100), file(t, "nats", 1_000_000, 400)})
	if strings.Contains(b.String(), "CPU time per delivery") {
		t.Errorf("CPU table without CPU times:\n%s", b.String())
	}
}
