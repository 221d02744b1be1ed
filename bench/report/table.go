package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/daemoneye/eventbus/bench/internal/result"
)

// systemOrder puts the known systems first, in this order.
var systemOrder = []string{"eventbus", "relay", "raw", "nats"}

func systemsOf(rows []result.Row) []string {
	var ss []string
	for _, r := range rows {
		if !slices.Contains(ss, r.System) {
			ss = append(ss, r.System)
		}
	}
	slices.SortStableFunc(ss, func(a, b string) int { return rank(a) - rank(b) })
	return ss
}

// ofKind returns the rows of kind, the known systems first.
func ofKind(rows []result.Row, kind string) []result.Row {
	var out []result.Row
	for _, r := range rows {
		if r.Kind == kind {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b result.Row) int { return rank(a.System) - rank(b.System) })
	return out
}

func rank(system string) int {
	if i := slices.Index(systemOrder, system); i >= 0 {
		return i
	}
	return len(systemOrder)
}

// find returns the row of system for key, if there is one.
func find(rows []result.Row, system, key string) (result.Row, bool) {
	for _, r := range rows {
		if r.System == system && r.Key() == key {
			return r, true
		}
	}
	return result.Row{}, false
}

// ratio formats a/b, or "–" when either is missing.
func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func row(w io.Writer, cells ...string) {
	fmt.Fprintln(w, "| "+strings.Join(cells, " | ")+" |")
}

func header(w io.Writer, cells ...string) {
	row(w, cells...)
	seps := make([]string, len(cells))
	for i := range seps {
		seps[i] = "---"
		if i > 0 {
			seps[i] = "---:"
		}
	}
	row(w, seps...)
}

// keysOf lists the rows' keys in their first order, each once.
func keysOf(rows []result.Row) []string {
	var keys []string
	for _, r := range rows {
		if !slices.Contains(keys, r.Key()) {
			keys = append(keys, r.Key())
		}
	}
	return keys
}

// throughputTable has one line per scenario and one column per system,
// in msg/s (fan-out: deliveries per second over all subscribers).
func throughputTable(w io.Writer, all []result.Row) {
	rows := ofKind(all, result.KindThroughput)
	if len(rows) == 0 {
		return
	}
	systems, keys := systemsOf(rows), keysOf(rows)
	fmt.Fprintln(w, "Throughput, msg/s (fan-out: deliveries per second, all subscribers together):")
	fmt.Fprintln(w)
	cols := append([]string{"scenario"}, systems...)
	cols = append(cols, "eventbus/nats", "eventbus/relay", "eventbus/raw")
	header(w, cols...)
	for _, k := range keys {
		cells := []string{k}
		for _, s := range systems {
			cells = append(cells, throughputCell(rows, s, k))
		}
		eb, _ := find(rows, "eventbus", k)
		for _, other := range []string{"nats", "relay", "raw"} {
			o, _ := find(rows, other, k)
			cells = append(cells, ratio(eb.MsgsPerSec, o.MsgsPerSec))
		}
		row(w, cells...)
	}
	fmt.Fprintln(w)
}

// cpuTable has one line per throughput scenario and one column per
// system whose rows carry it: the CPU time of all the system's processes
// per delivery, split by kind of process. Nothing when no row has it.
func cpuTable(w io.Writer, all []result.Row) {
	var rows []result.Row
	for _, r := range ofKind(all, result.KindThroughput) {
		if r.CPUNsPerMsg > 0 {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return
	}
	systems, keys := systemsOf(rows), keysOf(rows)
	fmt.Fprintln(w, "CPU time per delivery, ns, user and system, of all the system's processes (broker: the broker or nats-server; pub: publishers; sub: subscribers):")
	fmt.Fprintln(w)
	cols := append([]string{"scenario"}, systems...)
	cols = append(cols, "eventbus/nats")
	header(w, cols...)
	for _, k := range keys {
		cells := []string{k}
		for _, s := range systems {
			cells = append(cells, cpuCell(rows, s, k))
		}
		eb, _ := find(rows, "eventbus", k)
		nats, _ := find(rows, "nats", k)
		cells = append(cells, ratio(eb.CPUNsPerMsg, nats.CPUNsPerMsg))
		row(w, cells...)
	}
	fmt.Fprintln(w)
}

// cpuAbbrev shortens the kinds of process in a CPU cell.
var cpuAbbrev = map[string]string{"broker": "broker", "publishers": "pub", "subscribers": "sub"}

func cpuCell(rows []result.Row, system, key string) string {
	r, ok := find(rows, system, key)
	if !ok {
		return "–"
	}
	var parts []string
	for _, role := range slices.Sorted(maps.Keys(r.CPUByRole)) {
		name := cmp.Or(cpuAbbrev[role], role)
		parts = append(parts, name+" "+thousands(r.CPUByRole[role]))
	}
	s := thousands(r.CPUNsPerMsg)
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

func throughputCell(rows []result.Row, system, key string) string {
	r, ok := find(rows, system, key)
	if !ok {
		return "–"
	}
	s := thousands(r.MsgsPerSec)
	if r.Lost != 0 {
		s += fmt.Sprintf(" (lost %s)", thousands(float64(r.Lost)))
	}
	return s
}

// latencyTable has one line per system and one per ratio, in µs. For
// the latency kind the ratios are eventbus over relay and over nats; for
// reqrep, eventbus over nats.
func latencyTable(w io.Writer, all []result.Row, kind string) {
	rows := ofKind(all, kind)
	if len(rows) == 0 {
		return
	}
	cols := []string{"system", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs"}
	against := []string{"relay", "nats"}
	if kind == result.KindReqRep {
		fmt.Fprintln(w, "Request/reply, sequential round trips:")
		cols = append(cols, "req/s")
		against = []string{"nats"}
	} else {
		fmt.Fprintf(w, "One-way latency at %s msg/s:\n", thousands(float64(rows[0].Rate)))
	}
	fmt.Fprintln(w)
	header(w, cols...)
	for _, r := range rows {
		cells := []string{r.System}
		for _, v := range dist(r) {
			cells = append(cells, thousands(v))
		}
		if kind == result.KindReqRep {
			cells = append(cells, thousands(r.PerSec))
		}
		row(w, cells...)
	}
	eb, ok := find(rows, "eventbus", rows[0].Key())
	for _, other := range against {
		o, found := find(rows, other, rows[0].Key())
		if !ok || !found {
			continue
		}
		cells := []string{"eventbus/" + other}
		a, b := dist(eb), dist(o)
		for i := range a {
			cells = append(cells, ratio(a[i], b[i]))
		}
		if kind == result.KindReqRep {
			cells = append(cells, ratio(eb.PerSec, o.PerSec))
		}
		row(w, cells...)
	}
	fmt.Fprintln(w)
}

func dist(r result.Row) []float64 {
	return []float64{r.P50US, r.P90US, r.P99US, r.P999US, r.MaxUS}
}

// thousands rounds v and writes it with commas.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
