package benchfmt

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

var tableHeader = []string{"SYSTEM", "SCENARIO", "MSGS/S", "MB/S", "LOSS", "CPU ns/MSG", "P50µs", "P90µs", "P99µs", "P99.9µs", "MAXµs", "VS RELAY"}

// leftColumns are left-aligned; the others, numbers, right-aligned.
const leftColumns = 2

// WriteTable writes r as a table for people: one row per result. A
// latency row shows its paced rate under MSGS/S, a reqrep row its round
// trips per second. When the report has relay baselines, every row of
// another system gets the ratio to them under VS RELAY (see RelayRatio).
func WriteTable(w io.Writer, r *Report) error {
	m := r.Machine
	cpu := m.CPUModel
	if cpu == "" {
		cpu = "unknown CPU"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s, %s, %s/%s, %d CPUs (%s), %s\n", r.Tool, r.Version, r.Started, m.OS, m.Arch, m.CPUs, cpu, m.Go)
	fmt.Fprintf(&b, "count %d, size %d B, rate %d msg/s\n\n", r.Params.Count, r.Params.Size, r.Params.Rate)

	rows := [][]string{tableHeader}
	ratios := false
	for _, res := range r.Results {
		row := tableRow(res)
		if s := RelayRatio(r.Results, res); s != "" {
			row[len(row)-1] = s
			ratios = true
		}
		rows = append(rows, row)
	}
	writeColumns(&b, rows)
	if cpuShown(r.Results) {
		b.WriteString("\nCPU ns/MSG: CPU time, user and system, of all the system's processes per delivery.\n")
	}
	if ratios {
		b.WriteString("\nVS RELAY: throughput is msgs/s ÷ relay-1x1 msgs/s; latency is p50 ÷ relay-latency p50;\n" +
			"reqrep is p50 ÷ twice the relay-latency p50 (a round trip is two one-way trips).\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func cpuShown(results []Result) bool {
	for _, res := range results {
		if res.CPUNsPerMsg > 0 {
			return true
		}
	}
	return false
}

func tableRow(res Result) []string {
	row := []string{res.System, res.Scenario, "-", "-", "-", "-", "-", "-", "-", "-", "-", ""}
	switch res.Kind {
	case KindThroughput:
		row[2] = thousands(res.MsgsPerSec)
		row[3] = strconv.FormatFloat(res.BytesPerSec/1e6, 'f', 1, 64)
		row[4] = loss(res.Lost, res.Sent)
		if res.CPUNsPerMsg > 0 {
			row[5] = thousands(res.CPUNsPerMsg)
		}
		return row
	case KindLatency:
		row[2] = thousands(float64(res.Rate))
	case KindReqRep:
		row[2] = thousands(res.PerSec)
	default:
		return row
	}
	for i, v := range []float64{res.P50, res.P90, res.P99, res.P999, res.Max} {
		row[6+i] = strconv.FormatFloat(v, 'f', 1, 64)
	}
	return row
}

// RelayRatio compares res with the relay baseline among results: for
// throughput its msgs/s over relay-1x1's, for latency its p50 over the
// relay latency p50, for reqrep its p50 over twice that. It returns "" for
// the baselines themselves and when there is no baseline to compare with.
func RelayRatio(results []Result, res Result) string {
	if res.System == SystemRaw || res.System == SystemRelay {
		return ""
	}
	var relay *Result
	for i := range results {
		if o := &results[i]; o.System == SystemRelay && o.Kind == kindOfBaseline(res.Kind) {
			relay = o
			break
		}
	}
	if relay == nil {
		return ""
	}
	var num, den float64
	var what string
	switch res.Kind {
	case KindThroughput:
		num, den, what = res.MsgsPerSec, relay.MsgsPerSec, "rate"
	case KindLatency:
		num, den, what = res.P50, relay.P50, "p50"
	case KindReqRep:
		num, den, what = res.P50, 2*relay.P50, "p50"
	}
	if den <= 0 {
		return ""
	}
	return strconv.FormatFloat(num/den, 'f', 2, 64) + "x " + what
}

// kindOfBaseline is the kind of relay result a kind is compared with.
func kindOfBaseline(kind string) string {
	if kind == KindReqRep {
		return KindLatency
	}
	return kind
}

func loss(lost, sent int64) string {
	if lost == 0 || sent == 0 {
		return strconv.FormatInt(lost, 10)
	}
	return fmt.Sprintf("%d (%.2g%%)", lost, 100*float64(lost)/float64(sent))
}

// thousands formats v rounded to an integer with thousands separators.
func thousands(v float64) string {
	s := strconv.FormatFloat(v, 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// writeColumns pads the cells of rows into aligned columns, two spaces
// apart.
func writeColumns(b *strings.Builder, rows [][]string) {
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], len([]rune(cell)))
		}
	}
	for _, row := range rows {
		var line strings.Builder
		for i, cell := range row {
			pad := strings.Repeat(" ", widths[i]-len([]rune(cell)))
			if i > 0 {
				line.WriteString("  ")
			}
			if i < leftColumns || i == len(row)-1 {
				line.WriteString(cell + pad)
			} else {
				line.WriteString(pad + cell)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
}
