//go:build unix

package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/daemoneye/eventbus/internal/benchfmt"
)

const (
	systemEventbus = benchfmt.SystemEventbus
	systemRaw      = benchfmt.SystemRaw
	systemRelay    = benchfmt.SystemRelay

	kindThroughput = benchfmt.KindThroughput
	kindLatency    = benchfmt.KindLatency
	kindReqRep     = benchfmt.KindReqRep
)

// maxFanIn is the most publishers of a scenario.
const maxFanIn = 4

// scenario is one measurement.
type scenario struct {
	name       string
	system     string
	kind       string
	pubs, subs int
	run        func(*bench, context.Context, scenario) (benchfmt.Result, error)
}

// scenarios lists every scenario in the order they run.
var scenarios = []scenario{
	{name: "pubsub-1x1", system: systemEventbus, kind: kindThroughput, pubs: 1, subs: 1, run: (*bench).busThroughput},
	{name: "pubsub-1x4", system: systemEventbus, kind: kindThroughput, pubs: 1, subs: 4, run: (*bench).busThroughput},
	{name: "pubsub-4x1", system: systemEventbus, kind: kindThroughput, pubs: maxFanIn, subs: 1, run: (*bench).busThroughput},
	{name: "latency", system: systemEventbus, kind: kindLatency, pubs: 1, subs: 1, run: (*bench).busLatency},
	{name: "reqrep", system: systemEventbus, kind: kindReqRep, pubs: 1, subs: 1, run: (*bench).reqRep},
	{name: "raw-1x1", system: systemRaw, kind: kindThroughput, pubs: 1, subs: 1, run: (*bench).rawThroughput},
	{name: "relay-1x1", system: systemRelay, kind: kindThroughput, pubs: 1, subs: 1, run: (*bench).rawThroughput},
	{name: "raw-latency", system: systemRaw, kind: kindLatency, pubs: 1, subs: 1, run: (*bench).rawLatency},
	{name: "relay-latency", system: systemRelay, kind: kindLatency, pubs: 1, subs: 1, run: (*bench).rawLatency},
}

func (b *bench) busThroughput(ctx context.Context, sc scenario) (benchfmt.Result, error) {
	o := b.opts
	perSub := o.count * int64(sc.pubs)
	var c cast
	for i := range sc.subs {
		c.receivers = append(c.receivers, b.busRole(roleSub, o.subName, o.topic, i, perSub))
	}
	for i := range sc.pubs {
		c.senders = append(c.senders, b.busRole(rolePub, o.pubName, o.topic, i, o.count))
	}
	total := perSub * int64(sc.subs)
	out, err := b.perform(ctx, sc, c, total, b.limit(total, 10_000))
	if err != nil {
		return benchfmt.Result{}, err
	}
	return b.throughput(sc, total, out), nil
}

func (b *bench) rawThroughput(ctx context.Context, sc scenario) (benchfmt.Result, error) {
	c := b.rawCast(sc, b.opts.count, 0)
	out, err := b.perform(ctx, sc, c, b.opts.count, b.limit(b.opts.count, 10_000))
	if err != nil {
		return benchfmt.Result{}, err
	}
	return b.throughput(sc, b.opts.count, out), nil
}

func (b *bench) busLatency(ctx context.Context, sc scenario) (benchfmt.Result, error) {
	o := b.opts
	sub := b.busRole(roleSub, o.subName, o.topic, 0, o.latencyCount)
	sub.latency = true
	pub := b.busRole(rolePub, o.pubName, o.topic, 0, o.latencyCount)
	pub.rate = o.rate
	c := cast{receivers: []roleConfig{sub}, senders: []roleConfig{pub}}
	out, err := b.perform(ctx, sc, c, o.latencyCount, b.pacedLimit())
	if err != nil {
		return benchfmt.Result{}, err
	}
	return b.latency(sc, out)
}

func (b *bench) rawLatency(ctx context.Context, sc scenario) (benchfmt.Result, error) {
	o := b.opts
	c := b.rawCast(sc, o.latencyCount, o.rate)
	c.receivers[0].latency = true
	out, err := b.perform(ctx, sc, c, o.latencyCount, b.pacedLimit())
	if err != nil {
		return benchfmt.Result{}, err
	}
	return b.latency(sc, out)
}

func (b *bench) reqRep(ctx context.Context, sc scenario) (benchfmt.Result, error) {
	o := b.opts
	c := cast{
		middle:  []roleConfig{b.busRole(roleResp, o.respName, o.reqTopic, 0, 0)},
		senders: []roleConfig{b.busRole(roleReq, o.reqName, o.reqTopic, 0, o.reqrepCount)},
	}
	out, err := b.perform(ctx, sc, c, o.reqrepCount, b.limit(o.reqrepCount, 1_000))
	if err != nil {
		return benchfmt.Result{}, err
	}
	req := out.senders[0]
	h, err := decodeHistogram(req.Hist)
	if err != nil {
		return benchfmt.Result{}, err
	}
	secs := seconds(req.EndNs - req.StartNs)
	if req.Bad > 0 {
		b.logf("%s: %d replies did not echo the request's payload", sc.name, req.Bad)
	}
	return benchfmt.Result{
		System: sc.system, Scenario: sc.name, Kind: sc.kind,
		Count:   req.Received,
		Seconds: secs,
		PerSec:  perSecond(req.Received, secs),
		Latency: benchfmt.LatencyOf(h),
	}, nil
}

// busRole is the command line of an eventbus client role.
func (b *bench) busRole(role, name, topic string, index int, count int64) roleConfig {
	return roleConfig{
		role: role, socket: b.socket, name: name, topic: topic, crc: b.opts.crc, reuse: b.opts.reuse,
		index: index, count: count, size: b.opts.size, quiet: b.opts.quiet,
	}
}

// rawCast is a baseline's processes: a raw subscriber listening in the
// run's directory, for the relay system a relay in front of it, and a raw
// publisher of count messages at rate (0: unpaced).
func (b *bench) rawCast(sc scenario, count int64, rate int) cast {
	o := b.opts
	subAddr := filepath.Join(b.dir, sc.name+".sub.sock")
	sub := roleConfig{role: roleRawSub, addr: subAddr, crc: o.crc, count: count, size: o.size, quiet: o.quiet}
	pub := roleConfig{role: roleRawPub, addr: subAddr, topic: o.topic, crc: o.crc, count: count, size: o.size, rate: rate}
	c := cast{receivers: []roleConfig{sub}}
	if sc.system == systemRelay {
		relayAddr := filepath.Join(b.dir, sc.name+".relay.sock")
		c.middle = []roleConfig{{role: roleRelay, addr: relayAddr, to: subAddr}}
		pub.addr = relayAddr
	}
	c.senders = []roleConfig{pub}
	return c
}

// limit bounds a scenario of n messages that should not run slower than
// minRate per second, unless -timeout says otherwise.
func (b *bench) limit(n int64, minRate float64) time.Duration {
	if b.opts.timeout > 0 {
		return b.opts.timeout
	}
	return time.Minute + time.Duration(float64(n)/minRate*float64(time.Second))
}

// pacedLimit bounds a latency scenario: twice its paced duration and a
// minute.
func (b *bench) pacedLimit() time.Duration {
	if b.opts.timeout > 0 {
		return b.opts.timeout
	}
	return time.Minute + 2*time.Duration(float64(b.opts.latencyCount)/float64(b.opts.rate)*float64(time.Second))
}

// throughput turns the results of a throughput scenario into its row:
// from the first publish to the last delivery anywhere.
func (b *bench) throughput(sc scenario, expected int64, out outcome) benchfmt.Result {
	var start, end, delivered int64
	for _, s := range out.senders {
		if start == 0 || s.StartNs < start {
			start = s.StartNs
		}
	}
	for i, r := range out.receivers {
		delivered += r.Received
		end = max(end, r.LastNs)
		b.warnReceiver(sc, i, r)
	}
	secs := seconds(end - start)
	if delivered == 0 {
		secs = 0
	}
	rate := perSecond(delivered, secs)
	res := benchfmt.Result{
		System: sc.system, Scenario: sc.name, Kind: sc.kind,
		Publishers: sc.pubs, Subscribers: sc.subs, Size: b.opts.size,
		Sent: expected, Delivered: delivered, Lost: max(0, expected-delivered),
		Seconds:     secs,
		MsgsPerSec:  rate,
		BytesPerSec: math.Round(rate * float64(b.opts.size)),
	}
	if out.cpu != nil && delivered > 0 {
		res.CPUByRole = make(map[string]float64, len(out.cpu))
		var total int64
		for role, ns := range out.cpu {
			res.CPUByRole[role] = math.Round(float64(ns) / float64(delivered))
			total += ns
		}
		res.CPUNsPerMsg = math.Round(float64(total) / float64(delivered))
	}
	return res
}

// latency turns the results of a latency scenario into its row.
func (b *bench) latency(sc scenario, out outcome) (benchfmt.Result, error) {
	r := out.receivers[0]
	b.warnReceiver(sc, 0, r)
	if r.Received < b.opts.latencyCount {
		b.logf("%s: %d of %d messages arrived", sc.name, r.Received, b.opts.latencyCount)
	}
	h, err := decodeHistogram(r.Hist)
	if err != nil {
		return benchfmt.Result{}, err
	}
	return benchfmt.Result{
		System: sc.system, Scenario: sc.name, Kind: sc.kind,
		Size: b.opts.size, Rate: b.opts.rate, Count: h.TotalCount(),
		Latency: benchfmt.LatencyOf(h),
	}, nil
}

// warnReceiver reports anomalies a receiver saw.
func (b *bench) warnReceiver(sc scenario, i int, r *roleResult) {
	if r.Gaps+r.Dups+r.Dropped+r.Bad+r.Clamped == 0 {
		return
	}
	b.logf("%s: receiver %d: %d missing in sequence, %d repeated or out of order, %d dropped by the broker, %d malformed, %d latencies beyond the histogram",
		sc.name, i, r.Gaps, r.Dups, r.Dropped, r.Bad, r.Clamped)
}

func decodeHistogram(s string) (*hdrhistogram.Histogram, error) {
	if s == "" {
		return nil, fmt.Errorf("no latencies were recorded")
	}
	h, err := hdrhistogram.Decode([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("decode histogram: %w", err)
	}
	return h, nil
}

func seconds(ns int64) float64 {
	return math.Round(float64(max(ns, 0))/1e3) / 1e6
}

func perSecond(n int64, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return math.Round(float64(n) / secs)
}
