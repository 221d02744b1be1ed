// Package result holds the JSON schema shared by the benchmark tools
// (cmd/ebbench in the root module, natsbench here), the code that
// describes the machine, and helpers to read result files back.
//
// A file is one Report: the tool, the machine, the parameters and one
// row per scenario. Rows come in three kinds, "throughput", "latency"
// and "reqrep", each with its own fields. Writers use the typed rows
// below; readers decode into Row, which has every field, and keep the
// raw bytes so a row can be written back unchanged.
package result

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Row kinds.
const (
	KindThroughput = "throughput"
	KindLatency    = "latency"
	KindReqRep     = "reqrep"
)

// Histogram bounds for latencies recorded in nanoseconds: 1 µs to 10 s
// with 3 significant digits, as ebbench records them.
const (
	HistLowestNS  = int64(1_000)
	HistHighestNS = int64(10_000_000_000)
	HistSigFigs   = 3
)

// Percentiles are the points every latency row reports, in percent.
var Percentiles = []float64{0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100}

// Report is one result file.
type Report struct {
	Tool    string            `json:"tool"`
	Version string            `json:"version"`
	Started string            `json:"started"`
	Machine Machine           `json:"machine"`
	Params  Params            `json:"params"`
	Runs    int               `json:"runs,omitempty"` // set when the rows are medians of several runs
	Results []json.RawMessage `json:"results"`
}

// Machine describes where a report was measured.
type Machine struct {
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	Go       string `json:"go"`
}

// Params are the run's parameters.
type Params struct {
	Count int `json:"count"`
	Size  int `json:"size"`
	Rate  int `json:"rate"`
	// CRC and ReuseMessages are the event bus's non-default options, as
	// ebbench records them.
	CRC           string `json:"crc,omitempty"`
	ReuseMessages bool   `json:"reuse_messages,omitempty"`
}

// Throughput is a "throughput" row. Sent is the number of deliveries
// expected, messages published times subscribers, so Lost = Sent -
// Delivered; Delivered sums all subscribers and MsgsPerSec is
// Delivered/Seconds, the aggregate delivery rate for fan-out. Seconds runs
// from the first publish to the last delivery; BytesPerSec counts payload
// bytes only.
type Throughput struct {
	System      string  `json:"system"`
	Scenario    string  `json:"scenario"`
	Kind        string  `json:"kind"`
	Publishers  int     `json:"publishers"`
	Subscribers int     `json:"subscribers"`
	Size        int     `json:"size"`
	Sent        int64   `json:"sent"`
	Delivered   int64   `json:"delivered"`
	Lost        int64   `json:"lost"`
	Seconds     float64 `json:"seconds"`
	MsgsPerSec  float64 `json:"msgs_per_sec"`
	BytesPerSec float64 `json:"bytes_per_sec"`
	// CPUNsPerMsg is the CPU time, user and system, of all the system's
	// processes (server or broker, publishers, subscribers) per delivery,
	// and CPUByRole the same split by kind of process; left out when one
	// of them was not measured.
	CPUNsPerMsg float64            `json:"cpu_ns_per_msg,omitempty"`
	CPUByRole   map[string]float64 `json:"cpu_ns_per_msg_by_role,omitempty"`
	Note        string             `json:"note,omitempty"`
}

// Dist is a latency distribution in microseconds.
type Dist struct {
	P50US       float64      `json:"p50_us"`
	P90US       float64      `json:"p90_us"`
	P99US       float64      `json:"p99_us"`
	P999US      float64      `json:"p999_us"`
	MaxUS       float64      `json:"max_us"`
	Percentiles [][2]float64 `json:"percentiles"`
}

// Latency is a "latency" row: one-way latency of paced messages.
type Latency struct {
	System   string `json:"system"`
	Scenario string `json:"scenario"`
	Kind     string `json:"kind"`
	Size     int    `json:"size"`
	Rate     int    `json:"rate"`
	Count    int64  `json:"count"`
	Dist
	Note string `json:"note,omitempty"`
}

// ReqRep is a "reqrep" row: sequential request/reply round trips.
type ReqRep struct {
	System   string  `json:"system"`
	Scenario string  `json:"scenario"`
	Kind     string  `json:"kind"`
	Count    int64   `json:"count"`
	Seconds  float64 `json:"seconds"`
	PerSec   float64 `json:"per_sec"`
	Dist
	Note string `json:"note,omitempty"`
}

// Row is any row, decoded for reading. Fields a kind lacks stay zero.
type Row struct {
	System      string             `json:"system"`
	Scenario    string             `json:"scenario"`
	Kind        string             `json:"kind"`
	Publishers  int                `json:"publishers"`
	Subscribers int                `json:"subscribers"`
	Size        int                `json:"size"`
	Rate        int                `json:"rate"`
	Count       int64              `json:"count"`
	Sent        int64              `json:"sent"`
	Delivered   int64              `json:"delivered"`
	Lost        int64              `json:"lost"`
	Seconds     float64            `json:"seconds"`
	MsgsPerSec  float64            `json:"msgs_per_sec"`
	BytesPerSec float64            `json:"bytes_per_sec"`
	CPUNsPerMsg float64            `json:"cpu_ns_per_msg"`
	CPUByRole   map[string]float64 `json:"cpu_ns_per_msg_by_role"`
	PerSec      float64            `json:"per_sec"`
	P50US       float64            `json:"p50_us"`
	P90US       float64            `json:"p90_us"`
	P99US       float64            `json:"p99_us"`
	P999US      float64            `json:"p999_us"`
	MaxUS       float64            `json:"max_us"`
	Percentiles [][2]float64       `json:"percentiles"`
	Note        string             `json:"note"`

	Raw json.RawMessage `json:"-"` // the row as it was read
}

// Key names what a row measures independently of the system: the
// scenario with a leading "<system>-" removed, so ebbench's
// "raw-latency" and natsbench's "latency" share the key "latency", and
// a bare shape such as ebbench's "raw-1x1" becomes "pubsub-1x1".
func (r Row) Key() string {
	k := strings.TrimPrefix(r.Scenario, r.System+"-")
	if a, b, ok := strings.Cut(k, "x"); ok && isDigits(a) && isDigits(b) {
		k = "pubsub-" + k
	}
	return k
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// File is a report read back with its rows decoded.
type File struct {
	Path   string
	Report Report
	Rows   []Row
}

// Read reads and decodes one result file.
func Read(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.Path = path
	return f, nil
}

// Decode decodes one report.
func Decode(data []byte) (*File, error) {
	f := &File{}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f.Report); err != nil {
		return nil, fmt.Errorf("result: %w", err)
	}
	if len(f.Report.Results) == 0 {
		return nil, errors.New("result: no results")
	}
	for i, raw := range f.Report.Results {
		var r Row
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, fmt.Errorf("result: row %d: %w", i, err)
		}
		r.Raw = raw
		f.Rows = append(f.Rows, r)
	}
	return f, nil
}

// Add appends a typed row to the report.
func (r *Report) Add(row any) error {
	raw, err := json.Marshal(row)
	if err != nil {
		return err
	}
	r.Results = append(r.Results, raw)
	return nil
}

// NewHistogram returns a histogram for latencies in nanoseconds.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(HistLowestNS, HistHighestNS, HistSigFigs)
}

// RecordNanos records a latency in nanoseconds, clamped into the
// histogram's range. It reports whether the value had to be clamped.
func RecordNanos(h *hdrhistogram.Histogram, ns int64) (clamped bool) {
	switch {
	case ns < 0:
		ns, clamped = 0, true
	case ns > HistHighestNS:
		ns, clamped = HistHighestNS, true
	}
	_ = h.RecordValue(ns) // within range: cannot fail
	return clamped
}

// DistOf reads the percentiles of a histogram of nanoseconds, in
// microseconds rounded to the nanosecond.
func DistOf(h *hdrhistogram.Histogram) Dist {
	us := func(p float64) float64 { return float64(h.ValueAtQuantile(p)) / 1e3 }
	d := Dist{P50US: us(50), P90US: us(90), P99US: us(99), P999US: us(99.9), MaxUS: us(100)}
	for _, p := range Percentiles {
		d.Percentiles = append(d.Percentiles, [2]float64{p, us(p)})
	}
	return d
}

// ThisMachine describes the machine the caller runs on.
func ThisMachine() Machine {
	return Machine{
		OS:       runtime.GOOS,
		Arch:     runtime.GOARCH,
		CPUs:     runtime.NumCPU(),
		CPUModel: cpuModel(),
		Go:       runtime.Version(),
	}
}

// cpuModel reads the first "model name" from /proc/cpuinfo, or "unknown".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
