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
	rep := result.Report{Tool: system + "bench", Params: result.Params{Count: 100, Size: 128, Rate: 10000}}
	_ = rep.Add(result.Throughput{System: system, Scenario: "pubsub-1x1", Kind: result.KindThroughput, MsgsPerSec: mps, Sent: 100, Delivered: 100})
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
