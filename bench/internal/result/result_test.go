package result

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRecordNanosClamps(t *testing.T) {
	h := NewHistogram()
	cases := []struct {
		ns      int64
		clamped bool
	}{
		{400, false},            // below 1 µs: within the lowest bucket
		{-5_000, true},          // clock went backwards
		{20_000_000_000, true},  // 20 s: above the range
		{10_000_000_000, false}, // 10 s: the top of the range
		{123_456, false},        // 123 µs
		{999_999_999_999, true}, // far above
	}
	for _, c := range cases {
		if got := RecordNanos(h, c.ns); got != c.clamped {
			t.Errorf("RecordNanos(%d) clamped = %v, want %v", c.ns, got, c.clamped)
		}
	}
	if h.TotalCount() != int64(len(cases)) {
		t.Errorf("recorded %d values, want %d", h.TotalCount(), len(cases))
	}
}

func TestDistOf(t *testing.T) {
	h := NewHistogram()
	for v := int64(1); v <= 1000; v++ {
		_ = h.RecordValue(v * 1000) // 1 µs .. 1 ms
	}
	d := DistOf(h)
	// The 0th percentile is the lowest value of the minimum's bucket, which
	// at 1 µs is 512 ns wide: lowest discernible 1 µs means 2^9 ns units.
	if len(d.Percentiles) != len(Percentiles) {
		t.Fatalf("%d percentiles, want %d", len(d.Percentiles), len(Percentiles))
	}
	near := func(got, want float64) bool { return got >= want && got <= want*1.001 }
	if !near(d.P50US, 500) || !near(d.P99US, 990) || !near(d.MaxUS, 1000) {
		t.Errorf("p50 %v p99 %v max %v, want 500 990 1000", d.P50US, d.P99US, d.MaxUS)
	}
	if first, last := d.Percentiles[0], d.Percentiles[len(d.Percentiles)-1]; first[0] != 0 || first[1] > 1 || first[1] < 0.5 || last[0] != 100 || last[1] != d.MaxUS {
		t.Errorf("first %v last %v", first, last)
	}
	for i := 1; i < len(d.Percentiles); i++ {
		if d.Percentiles[i][1] < d.Percentiles[i-1][1] {
			t.Errorf("percentiles not monotonic at %v", d.Percentiles[i])
		}
	}
}

func TestRoundTripAndKey(t *testing.T) {
	rep := Report{Tool: "t", Machine: ThisMachine(), Params: Params{Count: 10, Size: 128, Rate: 5}}
	rows := []any{
		Throughput{System: "nats", Scenario: "pubsub-1x1", Kind: KindThroughput, Sent: 10, Delivered: 10},
		Latency{System: "raw", Scenario: "raw-latency", Kind: KindLatency, Count: 3, Dist: Dist{P50US: 7}},
		ReqRep{System: "eventbus", Scenario: "reqrep", Kind: KindReqRep, PerSec: 9},
	}
	for _, r := range rows {
		if err := rep.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Rows) != 3 {
		t.Fatalf("%d rows", len(f.Rows))
	}
	if k := f.Rows[1].Key(); k != "latency" {
		t.Errorf("raw-latency key = %q, want latency", k)
	}
	if k := f.Rows[0].Key(); k != "pubsub-1x1" {
		t.Errorf("key = %q", k)
	}
	for scen, want := range map[string]string{"raw-1x1": "pubsub-1x1", "relay-latency": "latency", "raw-4x12": "pubsub-4x12", "raw-x1": "x1"} {
		sys, _, _ := strings.Cut(scen, "-")
		if k := (Row{System: sys, Scenario: scen}).Key(); k != want {
			t.Errorf("%s: key %q, want %q", scen, k, want)
		}
	}
	if f.Rows[1].P50US != 7 || f.Rows[2].PerSec != 9 || f.Rows[0].Delivered != 10 {
		t.Errorf("rows decoded wrongly: %+v", f.Rows)
	}
	// A throughput row always carries lost, even when it is zero.
	var m map[string]any
	_ = json.Unmarshal(f.Rows[0].Raw, &m)
	if _, ok := m["lost"]; !ok {
		t.Error("throughput row has no lost field")
	}
	if _, err := Decode([]byte(`{"tool":"x","results":[]}`)); err == nil {
		t.Error("a report without results decoded")
	}
}
