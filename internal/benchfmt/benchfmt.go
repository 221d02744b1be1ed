// Package benchfmt is the result format of the event-bus benchmarks: the
// JSON document that cmd/ebbench writes with -json, and the table it prints
// otherwise. Programs that compare other systems write the same document, so
// that results can be put side by side and plotted by one script.
//
// An internal package cannot be imported from another module, so a program
// outside this module copies the schema below; its field names are stable.
//
//	{
//	  "tool": "ebbench",                  // the program that wrote the document
//	  "version": "0.2.0",                 // its version (ebbench: client.Version)
//	  "started": "2025-01-02T15:04:05Z",  // RFC 3339, when the run began
//	  "machine": {"os": "linux", "arch": "amd64", "cpus": 2,
//	              "cpu_model": "from /proc/cpuinfo", "go": "go1.26.8"},
//	  "params": {"count": 1000000, "size": 128, "rate": 10000},
//	  "results": [ one object per scenario, by kind:
//	    {"system": "eventbus", "scenario": "pubsub-1x1", "kind": "throughput",
//	     "publishers": 1, "subscribers": 1, "size": 128,
//	     "sent": 1000000, "delivered": 1000000, "lost": 0, "seconds": 0.61,
//	     "msgs_per_sec": 1639000, "bytes_per_sec": 209800000,
//	     "cpu_ns_per_msg": 1105,
//	     "cpu_ns_per_msg_by_role": {"broker": 480, "publishers": 170, "subscribers": 455}},
//	    {"system": "eventbus", "scenario": "latency", "kind": "latency",
//	     "size": 128, "rate": 10000, "count": 100000,
//	     "p50_us": 41.2, "p90_us": 50.1, "p99_us": 80.3, "p999_us": 150.7, "max_us": 900.1,
//	     "percentiles": [[0, 20.4], [50, 41.2], ..., [100, 900.1]]},
//	    {"system": "eventbus", "scenario": "reqrep", "kind": "reqrep",
//	     "count": 20000, "seconds": 1.9, "per_sec": 10500,
//	     "p50_us": ..., "p90_us": ..., "p99_us": ..., "p999_us": ..., "max_us": ...,
//	     "percentiles": [...]}
//	  ]
//	}
//
// Meanings:
//
//   - system: "eventbus", or "raw" (frames straight over a Unix socket, no
//     broker) and "relay" (the same through a process that only copies
//     bytes): the physical floor that other rows are read against. Another
//     program uses its own name ("nats").
//   - throughput: sent is the number of deliveries expected, messages
//     published times subscribers, so that lost = sent − delivered;
//     delivered sums all subscribers. seconds runs from the first publish to
//     the last delivery, msgs_per_sec is delivered/seconds and
//     bytes_per_sec counts payload bytes only. cpu_ns_per_msg is the CPU
//     time, user and system, that every process of the system (broker,
//     publishers, subscribers, relay) spent from the first publisher's
//     start to the last result, divided by delivered; cpu_ns_per_msg_by_role
//     splits it by kind of process. Both are left out when a process could
//     not be measured, such as a broker the tool did not start. On a machine
//     whose cores are all busy, the rate is bounded by cores ÷ CPU per
//     delivery, so this is the cost to compare between systems.
//   - latency: one publisher paced at rate msg/s; each payload carries its
//     send time; count is the number of deliveries measured.
//   - reqrep: count sequential request/reply round trips, per_sec of them.
//   - Latencies are microseconds from an HDR histogram (1 µs to 10 s, 3
//     significant digits). percentiles is a list of [percentile,
//     microseconds] pairs at the fixed Ladder, for plotting.
package benchfmt

import (
	"encoding/json"
	"fmt"
	"io"
)

// Kinds of result.
const (
	KindThroughput = "throughput"
	KindLatency    = "latency"
	KindReqRep     = "reqrep"
)

// Systems that ebbench measures. SystemRaw and SystemRelay are the
// baselines every other system is compared with.
const (
	SystemEventbus = "eventbus"
	SystemRaw      = "raw"
	SystemRelay    = "relay"
)

// Report is one benchmark run.
type Report struct {
	Tool    string   `json:"tool"`
	Version string   `json:"version"`
	Started string   `json:"started"`
	Machine Machine  `json:"machine"`
	Params  Params   `json:"params"`
	Results []Result `json:"results"`
}

// Machine describes where the run took place.
type Machine struct {
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	Go       string `json:"go"`
}

// Params are the run's main settings.
type Params struct {
	Count int64 `json:"count"`
	Size  int   `json:"size"`
	Rate  int   `json:"rate"`
	// CRC and ReuseMessages are the bus's options, when not the defaults:
	// "castagnoli", and client.Options.ReuseMessages in subscribers.
	CRC           string `json:"crc,omitempty"`
	ReuseMessages bool   `json:"reuse_messages,omitempty"`
}

// Result is one scenario's outcome. Which fields are meaningful depends on
// Kind; MarshalJSON writes exactly the fields of that kind, zeros included.
type Result struct {
	System   string `json:"system"`
	Scenario string `json:"scenario"`
	Kind     string `json:"kind"`

	Publishers  int     `json:"publishers,omitempty"`
	Subscribers int     `json:"subscribers,omitempty"`
	Size        int     `json:"size,omitempty"`
	Sent        int64   `json:"sent,omitempty"`
	Delivered   int64   `json:"delivered,omitempty"`
	Lost        int64   `json:"lost,omitempty"`
	Seconds     float64 `json:"seconds,omitempty"`
	MsgsPerSec  float64 `json:"msgs_per_sec,omitempty"`
	BytesPerSec float64 `json:"bytes_per_sec,omitempty"`
	// CPUNsPerMsg is the CPU time, user and system, of all the system's
	// processes per delivery, and CPUByRole the same split by kind of
	// process; both are zero and nil when a process was not measured.
	CPUNsPerMsg float64            `json:"cpu_ns_per_msg,omitempty"`
	CPUByRole   map[string]float64 `json:"cpu_ns_per_msg_by_role,omitempty"`

	Rate   int     `json:"rate,omitempty"`
	Count  int64   `json:"count,omitempty"`
	PerSec float64 `json:"per_sec,omitempty"`

	Latency
}

// Latency holds percentiles in microseconds.
type Latency struct {
	P50  float64 `json:"p50_us,omitempty"`
	P90  float64 `json:"p90_us,omitempty"`
	P99  float64 `json:"p99_us,omitempty"`
	P999 float64 `json:"p999_us,omitempty"`
	Max  float64 `json:"max_us,omitempty"`
	// Percentiles pairs each percentile of Ladder with its value.
	Percentiles [][2]float64 `json:"percentiles,omitempty"`
}

// The per-kind views fix the field order and keep zero values, so that a
// throughput row always says "lost": 0.
type throughputView struct {
	System      string             `json:"system"`
	Scenario    string             `json:"scenario"`
	Kind        string             `json:"kind"`
	Publishers  int                `json:"publishers"`
	Subscribers int                `json:"subscribers"`
	Size        int                `json:"size"`
	Sent        int64              `json:"sent"`
	Delivered   int64              `json:"delivered"`
	Lost        int64              `json:"lost"`
	Seconds     float64            `json:"seconds"`
	MsgsPerSec  float64            `json:"msgs_per_sec"`
	BytesPerSec float64            `json:"bytes_per_sec"`
	CPUNsPerMsg float64            `json:"cpu_ns_per_msg,omitempty"`
	CPUByRole   map[string]float64 `json:"cpu_ns_per_msg_by_role,omitempty"`
}

type latencyView struct {
	System   string `json:"system"`
	Scenario string `json:"scenario"`
	Kind     string `json:"kind"`
	Size     int    `json:"size"`
	Rate     int    `json:"rate"`
	Count    int64  `json:"count"`
	latencyFields
}

type reqRepView struct {
	System   string  `json:"system"`
	Scenario string  `json:"scenario"`
	Kind     string  `json:"kind"`
	Count    int64   `json:"count"`
	Seconds  float64 `json:"seconds"`
	PerSec   float64 `json:"per_sec"`
	latencyFields
}

type latencyFields struct {
	P50         float64      `json:"p50_us"`
	P90         float64      `json:"p90_us"`
	P99         float64      `json:"p99_us"`
	P999        float64      `json:"p999_us"`
	Max         float64      `json:"max_us"`
	Percentiles [][2]float64 `json:"percentiles"`
}

// MarshalJSON writes the fields of r's kind, in the documented order.
func (r Result) MarshalJSON() ([]byte, error) {
	lat := latencyFields(r.Latency)
	if lat.Percentiles == nil {
		lat.Percentiles = [][2]float64{}
	}
	switch r.Kind {
	case KindThroughput:
		return json.Marshal(throughputView{
			r.System, r.Scenario, r.Kind, r.Publishers, r.Subscribers, r.Size,
			r.Sent, r.Delivered, r.Lost, r.Seconds, r.MsgsPerSec, r.BytesPerSec,
			r.CPUNsPerMsg, r.CPUByRole,
		})
	case KindLatency:
		return json.Marshal(latencyView{r.System, r.Scenario, r.Kind, r.Size, r.Rate, r.Count, lat})
	case KindReqRep:
		return json.Marshal(reqRepView{r.System, r.Scenario, r.Kind, r.Count, r.Seconds, r.PerSec, lat})
	default:
		type plain Result // without this method
		return json.Marshal(plain(r))
	}
}

// WriteJSON writes r as one JSON document, one result per line.
func WriteJSON(w io.Writer, r *Report) error {
	head := []struct {
		key string
		val any
	}{
		{"tool", r.Tool}, {"version", r.Version}, {"started", r.Started},
		{"machine", r.Machine}, {"params", r.Params},
	}
	buf := []byte{'{'}
	for _, f := range head {
		b, err := json.Marshal(f.val)
		if err != nil {
			return fmt.Errorf("benchfmt: %s: %w", f.key, err)
		}
		buf = fmt.Appendf(buf, "%q:%s,", f.key, b)
	}
	buf = append(buf, "\n \"results\":["...)
	for i, res := range r.Results {
		b, err := json.Marshal(res)
		if err != nil {
			return fmt.Errorf("benchfmt: result %s: %w", res.Scenario, err)
		}
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, "\n  "...)
		buf = append(buf, b...)
	}
	buf = append(buf, "\n]}\n"...)
	_, err := w.Write(buf)
	return err
}
