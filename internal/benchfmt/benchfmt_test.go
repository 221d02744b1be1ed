package benchfmt

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func sampleReport() *Report {
	lat := Latency{P50: 41.2, P90: 50, P99: 80.5, P999: 150, Max: 900.25,
		Percentiles: [][2]float64{{0, 20}, {50, 41.2}, {100, 900.25}}}
	return &Report{
		Tool: "ebbench", Version: "0.2.0", Started: "2025-01-02T15:04:05Z",
		Machine: Machine{OS: "linux", Arch: "amd64", CPUs: 2, CPUModel: "Test CPU", Go: "go1.26.8"},
		Params:  Params{Count: 1000000, Size: 128, Rate: 10000},
		Results: []Result{
			{System: SystemEventbus, Scenario: "pubsub-1x1", Kind: KindThroughput, Publishers: 1, Subscribers: 1, Size: 128,
				Sent: 1000000, Delivered: 1000000, Seconds: 0.61, MsgsPerSec: 1639344, BytesPerSec: 209836066,
				CPUNsPerMsg: 1105, CPUByRole: map[string]float64{"broker": 480, "publishers": 170, "subscribers": 455}},
			{System: SystemEventbus, Scenario: "pubsub-1x4", Kind: KindThroughput, Publishers: 1, Subscribers: 4, Size: 128,
				Sent: 4000000, Delivered: 3999000, Lost: 1000, Seconds: 2, MsgsPerSec: 1999500, BytesPerSec: 255936000},
			{System: SystemEventbus, Scenario: "latency", Kind: KindLatency, Size: 128, Rate: 10000, Count: 100000, Latency: lat},
			{System: SystemEventbus, Scenario: "reqrep", Kind: KindReqRep, Count: 20000, Seconds: 2, PerSec: 10000, Latency: lat},
			{System: SystemRelay, Scenario: "relay-1x1", Kind: KindThroughput, Publishers: 1, Subscribers: 1, Size: 128,
				Sent: 1000000, Delivered: 1000000, Seconds: 0.25, MsgsPerSec: 4000000, BytesPerSec: 512000000},
			{System: SystemRelay, Scenario: "relay-latency", Kind: KindLatency, Size: 128, Rate: 10000, Count: 100000,
				Latency: Latency{P50: 20.6, P90: 25, P99: 30, P999: 40, Max: 100, Percentiles: [][2]float64{{50, 20.6}}}},
		},
	}
}

// TestResultJSON pins each kind's fields and their order, zeros included.
func TestResultJSON(t *testing.T) {
	r := sampleReport().Results
	for i, want := range []string{
		`{"system":"eventbus","scenario":"pubsub-1x1","kind":"throughput","publishers":1,"subscribers":1,"size":128,"sent":1000000,"delivered":1000000,"lost":0,"seconds":0.61,"msgs_per_sec":1639344,"bytes_per_sec":209836066,"cpu_ns_per_msg":1105,"cpu_ns_per_msg_by_role":{"broker":480,"publishers":170,"subscribers":455}}`,
		`{"system":"eventbus","scenario":"pubsub-1x4","kind":"throughput","publishers":1,"subscribers":4,"size":128,"sent":4000000,"delivered":3999000,"lost":1000,"seconds":2,"msgs_per_sec":1999500,"bytes_per_sec":255936000}`,
		3: `{"system":"eventbus","scenario":"reqrep","kind":"reqrep","count":20000,"seconds":2,"per_sec":10000,"p50_us":41.2,"p90_us":50,"p99_us":80.5,"p999_us":150,"max_us":900.25,"percentiles":[[0,20],[50,41.2],[100,900.25]]}`,
		2: `{"system":"eventbus","scenario":"latency","kind":"latency","size":128,"rate":10000,"count":100000,"p50_us":41.2,"p90_us":50,"p99_us":80.5,"p999_us":150,"max_us":900.25,"percentiles":[[0,20],[50,41.2],[100,900.25]]}`,
	} {
		if want == "" {
			continue
		}
		got, err := json.Marshal(r[i])
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("result %d:\n got %s\nwant %s", i, got, want)
		}
	}
	empty, err := json.Marshal(Result{System: "nats", Scenario: "latency", Kind: KindLatency})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(empty, []byte(`"percentiles":[]`)) || !bytes.Contains(empty, []byte(`"p50_us":0`)) {
		t.Errorf("an empty latency row lacks its fields: %s", empty)
	}
}

func TestWriteJSONRoundTrip(t *testing.T) {
	rep := sampleReport()
	var buf bytes.Buffer
	if err := WriteJSON(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if !json.Valid(buf.Bytes()) {
		t.Fatalf("invalid JSON:\n%s", buf.String())
	}
	if !strings.HasPrefix(buf.String(), `{"tool":"ebbench","version":"0.2.0","started":"2025-01-02T15:04:05Z","machine":{"os":"linux","arch":"amd64","cpus":2,"cpu_model":"Test CPU","go":"go1.26.8"},"params":{"count":1000000,"size":128,"rate":10000},`) {
		t.Errorf("header:\n%s", buf.String())
	}
	if n := strings.Count(buf.String(), "\n"); n != len(rep.Results)+3 {
		t.Errorf("%d lines, want one per result and three more:\n%s", n, buf.String())
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, rep) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, *rep)
	}
}

func TestWriteTable(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTable(&buf, sampleReport()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	t.Logf("\n%s", out)
	for _, want := range []string{
		"ebbench 0.2.0, 2025-01-02T15:04:05Z, linux/amd64, 2 CPUs (Test CPU), go1.26.8",
		"count 1000000, size 128 B, rate 10000 msg/s",
		"SYSTEM    SCENARIO",
		"1000 (0.025%)",
		"0.41x rate", // 1,639,344 / 4,000,000
		"2.00x p50",  // latency: 41.2 / 20.6
		"1.00x p50",  // reqrep: 41.2 / (2 × 20.6)
		"41.2   50.0   80.5",
		"VS RELAY:",
		"CPU ns/MSG: CPU time",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	rows := map[string][]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 2 {
			rows[f[1]] = f
		}
	}
	if got, want := rows["pubsub-1x1"], []string{"eventbus", "pubsub-1x1", "1,639,344", "209.8", "0", "1,105", "-", "-", "-", "-", "-", "0.41x", "rate"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pubsub-1x1 row: %q, want %q", got, want)
	}
	if got, want := rows["relay-latency"], []string{"relay", "relay-latency", "10,000", "-", "-", "-", "20.6", "25.0", "30.0", "40.0", "100.0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("relay-latency row (a baseline, not compared with itself): %q, want %q", got, want)
	}

	// Without baselines: no ratio and no explanation.
	rep := sampleReport()
	rep.Results = rep.Results[:4]
	buf.Reset()
	if err := WriteTable(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "x rate") || strings.Contains(buf.String(), "VS RELAY:") {
		t.Errorf("ratios without baselines:\n%s", buf.String())
	}

	// Without CPU times: no legend for them.
	rep.Results[0].CPUNsPerMsg, rep.Results[0].CPUByRole = 0, nil
	buf.Reset()
	if err := WriteTable(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "CPU ns/MSG:") {
		t.Errorf("CPU legend without CPU times:\n%s", buf.String())
	}
}

func TestThousands(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 12: "12", 999.6: "1,000", 1639344.2: "1,639,344", -1234: "-1,234"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestLatencyOf(t *testing.T) {
	h := NewHistogram()
	for i := int64(1); i <= 10000; i++ {
		RecordNanos(h, i*1000) // 1 µs to 10 ms
	}
	if !RecordNanos(h, -5) || !RecordNanos(h, HistogramHighest*2) {
		t.Error("out-of-range values not reported as clamped")
	}
	l := LatencyOf(h)
	if len(l.Percentiles) != len(Ladder) {
		t.Fatalf("%d percentiles", len(l.Percentiles))
	}
	for i, p := range l.Percentiles {
		if p[0] != Ladder[i] || i > 0 && p[1] < l.Percentiles[i-1][1] {
			t.Fatalf("percentiles not on the ladder or not increasing: %v", l.Percentiles)
		}
	}
	within := func(got, want float64) bool { return got >= want*0.99 && got <= want*1.01 }
	if !within(l.P50, 5000) || !within(l.P99, 9900) || l.Max != l.Percentiles[len(l.Percentiles)-1][1] {
		t.Errorf("p50 %v µs, p99 %v µs, max %v µs", l.P50, l.P99, l.Max)
	}
}

func TestCPUModel(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ text, want string }{
		"x86":  {"processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n", "AMD EPYC 7B13"},
		"arm":  {"processor\t: 0\nBogoMIPS\t: 108.00\n\nHardware\t: BCM2835\nModel\t\t: Raspberry Pi 4\n", "BCM2835"},
		"none": {"processor\t: 0\n", ""},
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := cpuModel(path); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
	if got := cpuModel(filepath.Join(dir, "missing")); got != "" {
		t.Errorf("missing file: %q", got)
	}
	if m := CurrentMachine(); m.CPUs < 1 || m.OS == "" || m.Go == "" {
		t.Errorf("CurrentMachine: %+v", m)
	}
}
