// Command natsbench measures nats-server with the nats.go client in the
// shape of the event bus's cmd/ebbench, and writes the same JSON schema
// with "system":"nats", so the two can be compared line by line.
//
// Every publisher, subscriber, requester and responder runs in its own
// OS process: natsbench re-executes itself with a hidden role flag. It
// starts nats-server on 127.0.0.1 with a port the kernel picks, or uses
// a server given with -server, which must be on a loopback address.
//
//	natsbench                      # every scenario, 1,000,000 messages of 128 B, a table
//	natsbench -json > nats.json    # the same as JSON
//	natsbench -quick               # small counts, a smoke test
//
// Scenarios, as ebbench's: pubsub-1x1, pubsub-1x4 (fan-out) and
// pubsub-4x1 (fan-in), where each publisher publishes -count messages
// and each subscriber should receive all of them, reported as deliveries
// per second over all subscribers from the first publish to the last
// delivery; latency (one publisher paced at -rate, the send time in the
// payload, one-way latency in an HDR histogram); and reqrep (sequential
// request/reply round trips).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/daemoneye/eventbus/bench/internal/result"
)

var allScenarios = []string{"pubsub-1x1", "pubsub-1x4", "pubsub-4x1", "latency", "reqrep"}

type config struct {
	count, size, rate  int
	latCount, reqCount int
	latDuration        time.Duration
	warmup             int
	quiet, timeout     time.Duration
	scenarios          []string
	server, serverBin  string
	pacer              string
	json, quick        bool
}

func main() {
	if len(os.Args) > 2 && os.Args[1] == roleFlag {
		if err := runRole(os.Args[2], os.Args[3:]); err != nil {
			fmt.Fprintf(os.Stderr, "natsbench %s: %v\n", os.Args[2], err)
			os.Exit(1)
		}
		return
	}
	cfg, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "natsbench:", err)
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "natsbench:", err)
		os.Exit(1)
	}
}

func parseFlags() (config, error) {
	var c config
	var scen string
	flag.IntVar(&c.count, "count", 1_000_000, "messages per publisher in throughput scenarios")
	flag.IntVar(&c.size, "size", 128, "payload `bytes` (the latency scenario uses at least 16)")
	flag.IntVar(&c.rate, "rate", 10_000, "paced publish rate of the latency scenario, msg/s")
	flag.IntVar(&c.latCount, "latency-count", 100_000, "messages of the latency scenario")
	flag.DurationVar(&c.latDuration, "latency-duration", 0, "run the latency scenario this long instead (count = rate × duration)")
	flag.IntVar(&c.reqCount, "reqrep-count", 20_000, "round trips of the reqrep scenario")
	flag.IntVar(&c.warmup, "warmup", 0, "latency messages and requests sent first and not recorded (ebbench has none)")
	flag.DurationVar(&c.quiet, "quiet", 2*time.Second, "a subscriber gives up this long after its last message once the publishers are done")
	flag.DurationVar(&c.timeout, "timeout", 0, "bound on each scenario's wait for its processes (0: derived from the counts)")
	flag.StringVar(&c.pacer, "pacer", pacerHR, "how the latency publisher waits: hrtimer (clock_nanosleep, precise) or timer (Go's timers, about 1 ms ticks when idle)")
	flag.StringVar(&scen, "scenarios", "all", "comma-separated `names` of the scenarios to run, or all")
	flag.StringVar(&c.server, "server", "", "URL of a running nats-server on a loopback address (default: start one)")
	flag.StringVar(&c.serverBin, "nats-server", "nats-server", "the nats-server binary to start")
	flag.BoolVar(&c.json, "json", false, "write JSON to stdout instead of a table")
	flag.BoolVar(&c.quick, "quick", false, "small counts for a smoke test (count 20000, latency 5000, reqrep 2000) unless given")
	flag.Parse()
	if flag.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.quick {
		quickDefault(set, "count", &c.count, 20_000)
		quickDefault(set, "latency-count", &c.latCount, 5_000)
		quickDefault(set, "reqrep-count", &c.reqCount, 2_000)
	}
	if c.latDuration > 0 && !set["latency-count"] {
		c.latCount = max(1, int(c.latDuration.Seconds()*float64(c.rate)))
	}
	if c.pacer != pacerHR && c.pacer != pacerTimer {
		return c, fmt.Errorf("-pacer %q: want %s or %s", c.pacer, pacerHR, pacerTimer)
	}
	var err error
	if c.scenarios, err = selectScenarios(scen); err != nil {
		return c, err
	}
	if c.count < 1 || c.size < 1 || c.rate < 1 || c.latCount < 1 || c.reqCount < 1 || c.warmup < 0 || c.quiet <= 0 || c.timeout < 0 {
		return c, fmt.Errorf("-count, -size, -rate, -latency-count, -reqrep-count and -quiet must be positive; -warmup and -timeout not negative")
	}
	return c, nil
}

// selectScenarios parses -scenarios: names, or all.
func selectScenarios(list string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
		case s == "all":
			out = append(out, allScenarios...)
		case slices.Contains(allScenarios, s):
			out = append(out, s)
		default:
			return nil, fmt.Errorf("-scenarios: unknown %q (known: all, %s)", s, strings.Join(allScenarios, ", "))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-scenarios: empty list")
	}
	return out, nil
}

func quickDefault(set map[string]bool, name string, v *int, quick int) {
	if !set[name] {
		*v = quick
	}
}

func run(cfg config) error {
	url := cfg.server
	serverPid := 0
	if url == "" {
		s, err := startServer(cfg.serverBin)
		if err != nil {
			return err
		}
		defer s.stop()
		url, serverPid = s.url, s.cmd.Process.Pid
	} else {
		var err error
		if url, err = checkLoopback(url); err != nil {
			return err
		}
	}
	version, err := serverVersion(url)
	if err != nil {
		return err
	}
	rep := result.Report{
		Tool:    "natsbench",
		Version: "nats.go v" + nats.Version + " / nats-server v" + version,
		Started: time.Now().Format(time.RFC3339),
		Machine: result.ThisMachine(),
		Params:  result.Params{Count: cfg.count, Size: cfg.size, Rate: cfg.rate},
	}
	logf("%s on %s, %s", rep.Version, url, rep.Machine.CPUModel)
	b := &bench{cfg: cfg, url: url, serverPid: serverPid}
	var lines []string
	for _, s := range cfg.scenarios {
		logf("%s ...", s)
		row, err := b.scenario(s)
		if err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		if err := rep.Add(row); err != nil {
			return err
		}
		lines = append(lines, summary(row))
		logf("%s", lines[len(lines)-1])
	}
	if cfg.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Printf("%s\n%s, %d CPUs, %s\n", rep.Version, rep.Machine.CPUModel, rep.Machine.CPUs, rep.Machine.Go)
	for _, l := range lines {
		fmt.Println(l)
	}
	return nil
}

func (b *bench) scenario(name string) (any, error) {
	switch name {
	case "pubsub-1x1":
		return b.throughput(name, 1, 1)
	case "pubsub-1x4":
		return b.throughput(name, 1, 4)
	case "pubsub-4x1":
		return b.throughput(name, 4, 1)
	case "latency":
		return b.latency()
	default:
		return b.reqrep()
	}
}

// serverVersion connects once to check the server answers.
func serverVersion(url string) (string, error) {
	nc, err := nats.Connect(url, nats.Name("natsbench"))
	if err != nil {
		return "", fmt.Errorf("connect %s: %w", url, err)
	}
	defer nc.Close()
	return nc.ConnectedServerVersion(), nil
}

// summary is a row in one line, for the log and the table.
func summary(row any) string {
	switch r := row.(type) {
	case result.Throughput:
		s := fmt.Sprintf("%-11s %d→%d  sent %d  delivered %d  lost %d  %.3f s  %.0f msg/s  %.1f MB/s",
			r.Scenario, r.Publishers, r.Subscribers, r.Sent, r.Delivered, r.Lost, r.Seconds, r.MsgsPerSec, r.BytesPerSec/1e6)
		if r.CPUNsPerMsg > 0 {
			s += fmt.Sprintf("  CPU %.0f ns/msg (server %.0f, pub %.0f, sub %.0f)", r.CPUNsPerMsg,
				r.CPUByRole["broker"], r.CPUByRole["publishers"], r.CPUByRole["subscribers"])
		}
		return withNote(s, r.Note)
	case result.Latency:
		s := fmt.Sprintf("%-11s %d msg at %d/s  p50 %.0f µs  p90 %.0f  p99 %.0f  p99.9 %.0f  max %.0f",
			r.Scenario, r.Count, r.Rate, r.P50US, r.P90US, r.P99US, r.P999US, r.MaxUS)
		return withNote(s, r.Note)
	case result.ReqRep:
		s := fmt.Sprintf("%-11s %d requests  %.0f/s  p50 %.0f µs  p90 %.0f  p99 %.0f  p99.9 %.0f  max %.0f",
			r.Scenario, r.Count, r.PerSec, r.P50US, r.P90US, r.P99US, r.P999US, r.MaxUS)
		return withNote(s, r.Note)
	}
	return fmt.Sprint(row)
}

func withNote(s, note string) string {
	if note == "" {
		return s
	}
	return s + "  (" + note + ")"
}

// logf writes progress to stderr, so stdout stays clean for -json.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "natsbench: "+format+"\n", args...)
}
