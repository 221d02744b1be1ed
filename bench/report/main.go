// Command report combines benchmark JSON files (ebbench's and
// natsbench's).
//
//	report merge -o nats.json run1.json run2.json run3.json
//	    keeps, for every system and scenario, the run with the median
//	    result (throughput: msg/s; latency: p99; reqrep: requests/s)
//	report table eventbus.json nats.json
//	    prints Markdown tables side by side, with the ratios
//	    eventbus/nats (every kind), eventbus/relay and eventbus/raw
//	    (throughput) and eventbus/relay (latency)
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/daemoneye/eventbus/bench/internal/result"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "merge":
		err = mergeCmd(os.Args[2:])
	case "table":
		err = tableCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: report merge [-o OUT.json] RUN.json...\n       report table RESULT.json...")
	os.Exit(2)
}

func readAll(paths []string) ([]*result.File, error) {
	if len(paths) == 0 {
		return nil, errors.New("no result files given")
	}
	var fs []*result.File
	for _, p := range paths {
		f, err := result.Read(p)
		if err != nil {
			return nil, err
		}
		fs = append(fs, f)
	}
	return fs, nil
}

func mergeCmd(args []string) error {
	fl := flag.NewFlagSet("merge", flag.ExitOnError)
	out := fl.String("o", "", "write here instead of stdout")
	_ = fl.Parse(args)
	fs, err := readAll(fl.Args())
	if err != nil {
		return err
	}
	rep, err := merge(fs)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if *out == "" {
		_, err = os.Stdout.Write(data)
		return err
	}
	return os.WriteFile(*out, data, 0o644)
}

// merge keeps, for each system and scenario, the row of the median run.
// With an even number of runs it takes the lower middle one. Rows are
// kept whole, so a row's numbers always come from one run.
func merge(fs []*result.File) (*result.Report, error) {
	type key struct{ system, scenario string }
	var order []key
	groups := map[key][]result.Row{}
	for _, f := range fs {
		for _, r := range f.Rows {
			k := key{r.System, r.Scenario}
			if _, ok := groups[k]; !ok {
				order = append(order, k)
			}
			groups[k] = append(groups[k], r)
		}
	}
	rep := fs[0].Report
	rep.Runs = len(fs)
	rep.Results = nil
	for _, k := range order {
		rows := groups[k]
		slices.SortStableFunc(rows, func(a, b result.Row) int { return cmpFloat(metric(a), metric(b)) })
		rep.Results = append(rep.Results, rows[(len(rows)-1)/2].Raw)
	}
	return &rep, nil
}

// metric is the number a row is ranked by, larger being better.
func metric(r result.Row) float64 {
	switch r.Kind {
	case result.KindThroughput:
		return r.MsgsPerSec
	case result.KindReqRep:
		return r.PerSec
	default:
		return -r.P99US
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func tableCmd(args []string) error {
	fs, err := readAll(args)
	if err != nil {
		return err
	}
	writeTables(os.Stdout, fs)
	return nil
}

// writeTables prints the machine and one table per kind.
func writeTables(w io.Writer, fs []*result.File) {
	for _, f := range fs {
		m := f.Report.Machine
		runs := ""
		if f.Report.Runs > 1 {
			runs = fmt.Sprintf(", median of %d runs", f.Report.Runs)
		}
		p := f.Report.Params
		var opts string
		if p.CRC != "" {
			opts += ", crc " + p.CRC
		}
		if p.ReuseMessages {
			opts += ", reuse-messages"
		}
		fmt.Fprintf(w, "- %s (%s): %s, %d CPUs, %s/%s, %s, count %d, size %d B, rate %d/s%s%s\n",
			f.Report.Tool, f.Report.Version, m.CPUModel, m.CPUs, m.OS, m.Arch, m.Go,
			p.Count, p.Size, p.Rate, opts, runs)
	}
	var rows []result.Row
	for _, f := range fs {
		rows = append(rows, f.Rows...)
	}
	fmt.Fprintln(w)
	throughputTable(w, rows)
	cpuTable(w, rows)
	latencyTable(w, rows, result.KindLatency)
	latencyTable(w, rows, result.KindReqRep)
}
