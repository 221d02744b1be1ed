//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/client"
	"github.com/daemoneye/eventbus/internal/benchfmt"
	"github.com/daemoneye/eventbus/wire"
)

// bench is one run of the benchmark: its options, its temporary directory
// and the broker it started.
type bench struct {
	opts   *options
	sup    *supervisor
	stderr io.Writer
	dir    string // removed by close
	socket string // the broker's endpoint
	broker *child // nil when using -socket
}

func newBench(opts *options, exe string, stderr io.Writer) (*bench, error) {
	dir, err := os.MkdirTemp(shortTempBase(), "ebbench-")
	if err != nil {
		return nil, err
	}
	return &bench{opts: opts, sup: newSupervisor(exe, stderr), stderr: stderr, dir: dir, socket: opts.socket}, nil
}

// shortTempBase is where the run's directory goes: the temporary
// directory, unless its path is too long for the socket addresses inside.
func shortTempBase() string {
	if base := os.TempDir(); len(base) <= 64 {
		return base
	}
	return "/tmp"
}

// close kills whatever still runs and removes the directory.
func (b *bench) close() {
	b.sup.killAll()
	os.RemoveAll(b.dir)
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "ebbench: "+format+"\n", args...)
}

// run runs the chosen scenarios one after another. A scenario that fails
// is reported and the others still run; the error then joins every
// failure. An interruption (ctx) ends the run without a report.
func (b *bench) run(ctx context.Context) (*benchfmt.Report, error) {
	o := b.opts
	report := &benchfmt.Report{
		Tool:    "ebbench",
		Version: client.Version,
		Started: time.Now().UTC().Format(time.RFC3339),
		Machine: benchfmt.CurrentMachine(),
		Params:  benchfmt.Params{Count: o.count, Size: o.size, Rate: o.rate, ReuseMessages: o.reuse},
	}
	if o.crc != wire.CRCIEEE {
		report.Params.CRC = o.crc.String()
	}
	var failed []string
	for _, sc := range o.scenarios {
		if sc.system == systemEventbus && b.socket == "" {
			if err := b.startBroker(ctx); err != nil {
				return nil, fmt.Errorf("start the broker: %w", err)
			}
		}
		res, err := sc.run(b, ctx, sc)
		if ctx.Err() != nil {
			// Interrupted: the broker still shuts down cleanly, writing
			// the profiles asked for.
			b.stopBroker(context.Background())
			return nil, ctx.Err()
		}
		if err != nil {
			b.logf("%s failed: %v", sc.name, err)
			failed = append(failed, sc.name)
			continue
		}
		b.logf("%s: %s", sc.name, summary(res))
		report.Results = append(report.Results, res)
	}
	var errs []error
	if len(failed) > 0 {
		errs = append(errs, fmt.Errorf("%d of %d scenarios failed: %s", len(failed), len(o.scenarios), strings.Join(failed, ", ")))
	}
	if err := b.stopBroker(context.Background()); err != nil {
		errs = append(errs, fmt.Errorf("stop the broker: %w", err))
	}
	return report, errors.Join(errs...)
}

// startBroker runs the broker role on a socket in the run's directory.
func (b *bench) startBroker(ctx context.Context) error {
	o := b.opts
	queue := o.brokerQueue
	if queue == 0 {
		queue = broker.DefaultQueueMessages
	}
	cfg := roleConfig{
		role:          roleBroker,
		socket:        filepath.Join(b.dir, "bus.sock"),
		crc:           o.crc,
		managed:       true,
		queueMessages: queue,
		cpuProfile:    o.cpuProfile,
		memProfile:    o.memProfile,
	}
	c, err := b.sup.start("broker", cfg)
	if err != nil {
		return err
	}
	if _, err := c.await(ctx, evReady, readyTimeout); err != nil {
		stopAll([]*child{c}, 0)
		return err
	}
	b.broker, b.socket = c, cfg.socket
	b.logf("broker pid %d on %s, queue %d events per receiver", c.cmd.Process.Pid, cfg.socket, queue)
	return nil
}

// stopBroker stops the broker the run started, which then writes its
// profiles, and reports its counters.
func (b *bench) stopBroker(ctx context.Context) error {
	c := b.broker
	if c == nil {
		return nil
	}
	b.broker = nil
	c.closeStdin()
	// Shutting down and writing the profiles take a while.
	m, err := c.await(ctx, evResult, brokerGrace+30*time.Second)
	if err == nil && m.Result.Broker != nil {
		st := m.Result.Broker
		b.logf("broker: %d published, %d routed, %d dropped; publishers paused %d times for receivers, gave up on %d",
			st.Published, st.Routed, st.Dropped, st.FlowWaits, st.FlowGiveUps)
		for _, f := range []string{b.opts.cpuProfile, b.opts.memProfile} {
			if f != "" {
				b.logf("broker profile written to %s (go tool pprof %s)", f, f)
			}
		}
	}
	return errors.Join(err, stopAll([]*child{c}, exitGrace))
}

// summary is a one-line account of a result, for stderr.
func summary(r benchfmt.Result) string {
	switch r.Kind {
	case kindThroughput:
		s := fmt.Sprintf("%s msgs/s, %.1f MB/s, %s of %s delivered, %s lost, %.3f s",
			group(int64(r.MsgsPerSec)), r.BytesPerSec/1e6, group(r.Delivered), group(r.Sent), group(r.Lost), r.Seconds)
		if r.CPUNsPerMsg > 0 {
			s += fmt.Sprintf(", CPU %s ns per delivery (%s)", group(int64(r.CPUNsPerMsg)), cpuSplit(r.CPUByRole))
		}
		return s
	case kindLatency:
		return fmt.Sprintf("%s messages at %s msg/s: p50 %.1f µs, p99 %.1f µs, p99.9 %.1f µs, max %.1f µs",
			group(r.Count), group(int64(r.Rate)), r.P50, r.P99, r.P999, r.Max)
	case kindReqRep:
		return fmt.Sprintf("%s round trips, %s/s: p50 %.1f µs, p99 %.1f µs, max %.1f µs",
			group(r.Count), group(int64(r.PerSec)), r.P50, r.P99, r.Max)
	}
	return r.Kind
}

// cpuSplit lists a CPU breakdown by role, in a fixed order.
func cpuSplit(byRole map[string]float64) string {
	roles := slices.Sorted(maps.Keys(byRole))
	parts := make([]string, len(roles))
	for i, role := range roles {
		parts[i] = fmt.Sprintf("%s %s", role, group(int64(byRole[role])))
	}
	return strings.Join(parts, ", ")
}
