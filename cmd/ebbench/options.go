//go:build unix

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/wire"
)

// errUsage is a command line error; the flag package has printed why.
var errUsage = errors.New("ebbench: usage")

// Counts that -quick uses unless the flag was given.
const (
	quickCount        = 20_000
	quickLatencyCount = 5_000
	quickReqRepCount  = 2_000
)

// Limits of the payload size: room for the sequence number and send time,
// and well within the default maximum frame.
const (
	minSize = payloadHeader
	maxSize = 512 << 10
)

// options are the command line of the benchmark (not of a role).
type options struct {
	scenarios       []scenario
	count           int64
	size            int
	rate            int
	latencyCount    int64
	latencyDuration time.Duration
	reqrepCount     int64
	json            bool
	raw             bool
	quick           bool
	timeout         time.Duration // per scenario; 0 means derived from the counts
	quiet           time.Duration

	socket      string // an existing broker; "" starts one
	crc         wire.CRC
	reuse       bool // clients reuse delivered messages' memory
	brokerQueue int  // per receiver; 0 means the broker's default
	cpuProfile  string
	memProfile  string
	// clientProfiles is a directory where every client process (publishers,
	// subscribers, requester, responder, raw roles and the relay) writes
	// a CPU profile, named after its scenario, role and index.
	clientProfiles string

	pubName, subName, reqName, respName string
	topic, reqTopic                     string
}

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("ebbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: ebbench [flags]\n\nScenarios: %s\n(raw baselines with -raw: %s)\n\nFlags:\n",
			strings.Join(scenarioNames(false), ", "), strings.Join(scenarioNames(true), ", "))
		fs.PrintDefaults()
	}
	list := fs.String("scenarios", "all", "comma-separated `names` of the scenarios to run, or all")
	fs.Int64Var(&o.count, "count", 1_000_000, "messages per publisher in throughput scenarios")
	fs.IntVar(&o.size, "size", 128, fmt.Sprintf("payload `bytes`, %d to %d", minSize, maxSize))
	fs.IntVar(&o.rate, "rate", 10_000, "paced publish rate of the latency scenarios, msg/s")
	fs.Int64Var(&o.latencyCount, "latency-count", 100_000, "messages of the latency scenarios")
	fs.DurationVar(&o.latencyDuration, "latency-duration", 0, "run the latency scenarios this long instead (count = rate × duration)")
	fs.Int64Var(&o.reqrepCount, "reqrep-count", 20_000, "round trips of the reqrep scenario")
	fs.BoolVar(&o.json, "json", false, "print the results as one JSON document instead of a table")
	fs.BoolVar(&o.raw, "raw", false, "also run the raw and relay baselines (no broker)")
	fs.BoolVar(&o.quick, "quick", false, fmt.Sprintf("small counts for a smoke test (count %d, latency %d, reqrep %d) unless given", quickCount, quickLatencyCount, quickReqRepCount))
	fs.DurationVar(&o.timeout, "timeout", 0, "bound on each scenario's run (0: derived from the counts)")
	fs.DurationVar(&o.quiet, "quiet", 2*time.Second, "a subscriber gives up this long after its last message once the publishers are done")
	fs.StringVar(&o.socket, "socket", "", "use the broker at this `endpoint` instead of starting one")
	fs.TextVar(&o.crc, "crc", wire.CRCIEEE, "frame checksum: ieee or castagnoli (must match the broker)")
	fs.BoolVar(&o.reuse, "reuse-messages", false, "subscribers and responders run with client.Options.ReuseMessages: messages valid only during the handler")
	fs.IntVar(&o.brokerQueue, "broker-queue", 0, fmt.Sprintf("the started broker's queue per receiver, in `messages` (0: the production default, %d); publishers still pause at %d, or at half the queue when that is smaller", broker.DefaultQueueMessages, broker.DefaultFlowControlMessages))
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "the started broker writes a CPU profile to `file` when it shuts down")
	fs.StringVar(&o.memProfile, "memprofile", "", "the started broker writes a heap profile to `file` when it shuts down")
	fs.StringVar(&o.clientProfiles, "client-profiles", "", "every client process writes a CPU profile into `dir` (<scenario>-<role>-<index>.cpu)")
	fs.StringVar(&o.pubName, "pub-name", "procmond", "client name publishers claim")
	fs.StringVar(&o.subName, "sub-name", "daemoneye-agent", "client name subscribers claim")
	fs.StringVar(&o.reqName, "req-name", "daemoneye-agent", "client name the requester claims")
	fs.StringVar(&o.respName, "resp-name", "procmond", "client name the responder claims")
	fs.StringVar(&o.topic, "topic", "events.process.bench", "topic of the pubsub and latency scenarios")
	fs.StringVar(&o.reqTopic, "req-topic", "control.health.diagnostics", "topic of the reqrep scenario")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errUsage
		}
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		setUnless(set["count"], &o.count, quickCount)
		setUnless(set["latency-count"], &o.latencyCount, quickLatencyCount)
		setUnless(set["reqrep-count"], &o.reqrepCount, quickReqRepCount)
	}
	if o.latencyDuration > 0 && !set["latency-count"] {
		o.latencyCount = max(1, int64(o.latencyDuration.Seconds()*float64(o.rate)))
	}
	if o.socket != "" && (o.cpuProfile != "" || o.memProfile != "" || o.brokerQueue != 0) {
		return nil, errors.New("-cpuprofile, -memprofile and -broker-queue apply to the broker ebbench starts, not to one given with -socket")
	}
	var err error
	if o.scenarios, err = selectScenarios(*list, o.raw); err != nil {
		return nil, err
	}
	return o, o.validate()
}

func setUnless(given bool, v *int64, quick int64) {
	if !given {
		*v = quick
	}
}

func (o *options) validate() error {
	var errs []error
	check := func(bad bool, format string, args ...any) {
		if bad {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(o.count < 1, "-count %d: must be at least 1", o.count)
	check(o.count >= 1<<48, "-count %d: too large", o.count)
	check(o.size < minSize || o.size > maxSize, "-size %d: must be %d to %d", o.size, minSize, maxSize)
	check(o.rate < 1, "-rate %d: must be at least 1", o.rate)
	check(o.latencyCount < 1 || o.latencyCount >= 1<<48, "-latency-count %d: out of range", o.latencyCount)
	check(o.reqrepCount < 1, "-reqrep-count %d: must be at least 1", o.reqrepCount)
	check(o.timeout < 0, "-timeout %v: must not be negative", o.timeout)
	check(o.quiet <= 0, "-quiet %v: must be positive", o.quiet)
	check(o.brokerQueue < 0, "-broker-queue %d: must not be negative", o.brokerQueue)
	return errors.Join(errs...)
}

// selectScenarios parses -scenarios. "all" is every broker scenario, and
// with -raw every baseline. With -raw, naming broker scenarios adds the
// baselines they are compared with (latency brings raw-latency and
// relay-latency); baselines may also be named one by one.
func selectScenarios(list string, raw bool) ([]scenario, error) {
	want := map[string]bool{}
	var unknown []string
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
		case name == "all" || slices.ContainsFunc(scenarios, func(sc scenario) bool { return sc.name == name }):
			want[name] = true
		default:
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("-scenarios: unknown %s (known: all, %s, %s)", strings.Join(unknown, ", "),
			strings.Join(scenarioNames(false), ", "), strings.Join(scenarioNames(true), ", "))
	}
	if len(want) == 0 {
		return nil, errors.New("-scenarios: empty list")
	}
	floors := map[string]bool{} // kinds of baseline the chosen scenarios need
	for _, sc := range scenarios {
		if sc.system == systemEventbus && (want["all"] || want[sc.name]) {
			floors[baselineKind(sc.kind)] = true
		}
	}
	var out []scenario
	for _, sc := range scenarios {
		baseline := sc.system != systemEventbus
		switch {
		case want[sc.name], want["all"] && !baseline:
		case raw && baseline && floors[sc.kind]:
		default:
			continue
		}
		out = append(out, sc)
	}
	return out, nil
}

func baselineKind(kind string) string {
	if kind == kindReqRep {
		return kindLatency
	}
	return kind
}

func scenarioNames(baselines bool) []string {
	var names []string
	for _, sc := range scenarios {
		if (sc.system != systemEventbus) == baselines {
			names = append(names, sc.name)
		}
	}
	return names
}
