package main

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/daemoneye/eventbus/bench/internal/result"
)

// writeSynthetic writes a result file with one latency row per system.
func writeSynthetic(t *testing.T, dir, name string, systems ...string) string {
	t.Helper()
	rep := result.Report{Tool: "synthetic", Machine: result.Machine{CPUModel: "test CPU", CPUs: 2, OS: "linux", Arch: "amd64"}}
	for i, s := range systems {
		h := result.NewHistogram()
		for v := int64(1); v <= 10_000; v++ {
			_ = h.RecordValue(1000 * (20*int64(i+1) + v%200 + v/9000*v))
		}
		scen := "latency"
		if s == "raw" || s == "relay" {
			scen = s + "-latency"
		}
		_ = rep.Add(result.Latency{System: s, Scenario: scen, Kind: result.KindLatency, Size: 128, Rate: 10000, Count: 10_000, Dist: result.DistOf(h)})
	}
	_ = rep.Add(result.Throughput{System: systems[0], Scenario: "pubsub-1x1", Kind: result.KindThroughput})
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPlotWritesPNG(t *testing.T) {
	dir := t.TempDir()
	eb := writeSynthetic(t, dir, "eventbus.json", "eventbus", "relay", "raw")
	nt := writeSynthetic(t, dir, "nats.json", "nats")
	out := filepath.Join(dir, "latency.png")
	if err := run(options{out: out}, []string{nt, eb}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() < 600 || b.Dy() < 300 {
		t.Errorf("image is %v", b)
	}
}

func TestCollectOrdersAndLabels(t *testing.T) {
	dir := t.TempDir()
	a := writeSynthetic(t, dir, "a.json", "nats", "eventbus")
	b := writeSynthetic(t, dir, "b.json", "nats")
	var fs []*result.File
	for _, p := range []string{a, b} {
		f, err := result.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	ss := collect(fs)
	var labels []string
	for _, s := range ss {
		labels = append(labels, s.label)
	}
	want := []string{"eventbus", "nats (a.json)", "nats (b.json)"}
	if len(labels) != len(want) {
		t.Fatalf("labels %q, want %q", labels, want)
	}
	for i := range want {
		if labels[i] != want[i] {
			t.Errorf("labels %q, want %q", labels, want)
			break
		}
	}
	if p := ss[0].points; p[len(p)-1].X != maxX || p[0].X != 1 {
		t.Errorf("x range %v..%v", p[0].X, p[len(p)-1].X)
	}
}

func TestTicks(t *testing.T) {
	ts := logTicks125{}.Ticks(15, 3000)
	var labels []string
	for _, tk := range ts {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	want := "20 50 100 200 500 1000 2000"
	if got := join(labels); got != want {
		t.Errorf("labels %q, want %q", got, want)
	}
	if thousands(10000) != "10,000" || thousands(999) != "999" || thousands(1234567) != "1,234,567" {
		t.Error("thousands")
	}
}

func join(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += v
	}
	return out
}
