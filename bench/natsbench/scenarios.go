package main

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/nats-io/nuid"

	"github.com/daemoneye/eventbus/bench/internal/result"
)

// bench runs scenarios against one server.
type bench struct {
	cfg config
	url string
	// serverPid is the nats-server this program started, whose CPU time
	// throughput rows count; 0 for a server given with -server.
	serverPid int
}

// timeouts for the role processes.
const (
	readyTimeout = 30 * time.Second
)

func (b *bench) roleArgs(scenario string) roleArgs {
	return roleArgs{
		url:     b.url,
		subject: "natsbench." + scenario + "." + nuid.Next(),
		size:    b.cfg.size,
		rate:    b.cfg.rate,
		warmup:  b.cfg.warmup,
		quiet:   b.cfg.quiet,
		pacer:   b.cfg.pacer,
	}
}

// startAll starts n workers of one role and waits until each is ready.
func startAll(n int, role string, argsOf func(i int) roleArgs) ([]*worker, error) {
	var ws []*worker
	for i := 0; i < n; i++ {
		w, err := startWorker(role, argsOf(i).flags()...)
		if err != nil {
			killAll(ws)
			return nil, err
		}
		ws = append(ws, w)
	}
	for _, w := range ws {
		if err := w.waitReady(readyTimeout); err != nil {
			killAll(ws)
			return nil, err
		}
	}
	return ws, nil
}

// throughput runs pubs publishers and subs subscribers in their own
// processes. Each publisher publishes count messages; every subscriber
// should receive all of them. The clock runs from the first publish to
// the last delivery.
func (b *bench) throughput(scenario string, pubs, subs int) (result.Throughput, error) {
	a := b.roleArgs(scenario)
	a.count = b.cfg.count * pubs // what each subscriber expects
	ss, err := startAll(subs, roleSub, func(int) roleArgs { return a })
	if err != nil {
		return result.Throughput{}, err
	}
	defer killAll(ss)
	pa := a
	pa.count = b.cfg.count
	ps, err := startAll(pubs, rolePub, func(int) roleArgs { return pa })
	if err != nil {
		return result.Throughput{}, err
	}
	defer killAll(ps)

	limit := b.limit(int64(a.count*subs), 10_000)
	serverStart, serverMeasured := b.serverCPU()
	// Subscribers take "go" too, to count their CPU time from here.
	if err := sendAll(ss, cmdGo); err != nil {
		return result.Throughput{}, err
	}
	if err := sendAll(ps, cmdGo); err != nil {
		return result.Throughput{}, err
	}
	pr, err := resultsOf(ps, limit)
	if err != nil {
		return result.Throughput{}, err
	}
	if err := sendAll(ss, cmdDone); err != nil {
		return result.Throughput{}, err
	}
	sr, err := resultsOf(ss, limit)
	if err != nil {
		return result.Throughput{}, err
	}
	serverEnd, serverEnded := b.serverCPU()
	row := throughputRow(scenario, pr, sr, b.cfg.size)
	if serverMeasured && serverEnded {
		addCPU(&row, serverEnd-serverStart, pr, sr)
	}
	return row, nil
}

// serverCPU is the CPU time of the nats-server this program started; a
// server given with -server is not measured.
func (b *bench) serverCPU() (int64, bool) {
	if b.serverPid == 0 {
		return 0, false
	}
	return processCPU(b.serverPid)
}

// addCPU fills in the row's CPU time per delivery: the server's, and the
// publishers' and subscribers' as each reported it. A worker that could not
// measure itself (off Linux) leaves the row without.
func addCPU(row *result.Throughput, server int64, pr, sr []childResult) {
	if row.Delivered == 0 {
		return
	}
	per := func(ns int64) float64 { return math.Round(float64(ns) / float64(row.Delivered)) }
	sum := func(rs []childResult) (int64, bool) {
		var ns int64
		for _, r := range rs {
			if r.CPUNS <= 0 {
				return 0, false
			}
			ns += r.CPUNS
		}
		return ns, true
	}
	pubs, okP := sum(pr)
	subs, okS := sum(sr)
	if !okP || !okS {
		return
	}
	row.CPUNsPerMsg = per(server + pubs + subs)
	row.CPUByRole = map[string]float64{"broker": per(server), "publishers": per(pubs), "subscribers": per(subs)}
}

// throughputRow turns the workers' reports into a row: Sent is the
// deliveries expected, messages published times subscribers.
func throughputRow(scenario string, pr, sr []childResult, size int) result.Throughput {
	row := result.Throughput{System: "nats", Scenario: scenario, Kind: result.KindThroughput,
		Publishers: len(pr), Subscribers: len(sr), Size: size}
	var start, end int64
	for _, r := range pr {
		row.Sent += r.Sent * int64(len(sr))
		if start == 0 || r.StartNS < start {
			start = r.StartNS
		}
	}
	for _, r := range sr {
		row.Delivered += r.Received
		if r.Received > 0 {
			end = max(end, r.LastNS)
		}
	}
	row.Lost = max(0, row.Sent-row.Delivered)
	if row.Delivered > 0 && end > start {
		row.Seconds = float64(end-start) / 1e9
		row.MsgsPerSec = float64(row.Delivered) / row.Seconds
		row.BytesPerSec = row.MsgsPerSec * float64(size)
	}
	row.Note = notes(row.Lost, pr, sr)
	return row
}

// limit bounds the wait for n messages that should not arrive slower than
// minRate per second, unless -timeout says otherwise.
func (b *bench) limit(n int64, minRate float64) time.Duration {
	if b.cfg.timeout > 0 {
		return b.cfg.timeout
	}
	return time.Minute + time.Duration(float64(n)/minRate*float64(time.Second))
}

// notes says what went wrong, if anything: losses and what the
// connections reported.
func notes(lost int64, groups ...[]childResult) string {
	var out []string
	if lost > 0 {
		out = append(out, fmt.Sprintf("%d messages lost", lost))
	}
	for _, g := range groups {
		for _, r := range g {
			if r.Disconnects+r.Reconnects+r.AsyncErrors == 0 && r.Clamped == 0 {
				continue
			}
			s := fmt.Sprintf("a process saw %d disconnects, %d reconnects, %d async errors", r.Disconnects, r.Reconnects, r.AsyncErrors)
			if r.LastError != "" {
				s += " (last: " + r.LastError + ")"
			}
			if r.Clamped > 0 {
				s += fmt.Sprintf(", %d latencies outside 1µs..10s clamped", r.Clamped)
			}
			out = append(out, s)
		}
	}
	return strings.Join(out, "; ")
}

// latency runs one paced publisher and one subscriber that records the
// one-way latency of each message from the send time in its payload.
func (b *bench) latency() (result.Latency, error) {
	a := b.roleArgs("latency")
	a.count = b.cfg.latCount
	row := result.Latency{System: "nats", Scenario: "latency", Kind: result.KindLatency,
		Size: max(b.cfg.size, 16), Rate: b.cfg.rate}
	ss, err := startAll(1, roleLatSub, func(int) roleArgs { return a })
	if err != nil {
		return row, err
	}
	defer killAll(ss)
	ps, err := startAll(1, roleLatPub, func(int) roleArgs { return a })
	if err != nil {
		return row, err
	}
	defer killAll(ps)
	if err := sendAll(ps, cmdGo); err != nil {
		return row, err
	}
	limit := b.limit(int64(a.warmup+a.count), float64(b.cfg.rate)/2)
	pr, err := resultsOf(ps, limit)
	if err != nil {
		return row, err
	}
	if err := sendAll(ss, cmdDone); err != nil {
		return row, err
	}
	sr, err := resultsOf(ss, limit)
	if err != nil {
		return row, err
	}
	row.Count = sr[0].Received
	row.Dist = *sr[0].Dist
	row.Note = notes(int64(a.count)-row.Count, pr, sr)
	return row, nil
}

// reqrep runs one requester sending sequential requests to one responder.
func (b *bench) reqrep() (result.ReqRep, error) {
	a := b.roleArgs("reqrep")
	a.count = b.cfg.reqCount
	a.warmup = min(b.cfg.warmup, a.count)
	row := result.ReqRep{System: "nats", Scenario: "reqrep", Kind: result.KindReqRep}
	rs, err := startAll(1, roleResponder, func(int) roleArgs { return a })
	if err != nil {
		return row, err
	}
	defer killAll(rs)
	qs, err := startAll(1, roleRequester, func(int) roleArgs { return a })
	if err != nil {
		return row, err
	}
	defer killAll(qs)
	if err := sendAll(qs, cmdGo); err != nil {
		return row, err
	}
	limit := b.limit(int64(a.warmup+a.count), 1_000)
	qr, err := resultsOf(qs, limit)
	if err != nil {
		return row, err
	}
	if err := sendAll(rs, cmdDone); err != nil {
		return row, err
	}
	rr, err := resultsOf(rs, limit)
	if err != nil {
		return row, err
	}
	row.Count, row.Seconds = qr[0].Sent, qr[0].Seconds
	if row.Seconds > 0 {
		row.PerSec = float64(row.Count) / row.Seconds
	}
	row.Dist = *qr[0].Dist
	row.Note = notes(0, qr, rr)
	return row, nil
}

// sendAll sends cmd to every worker. A worker may have finished before
// "done" reaches it (a subscriber that got every message does not wait
// for it), so errors sending "done" are left for result to report.
func sendAll(ws []*worker, cmd string) error {
	for _, w := range ws {
		if err := w.send(cmd); err != nil && cmd != cmdDone {
			return fmt.Errorf("%s: %w", w.name, err)
		}
	}
	return nil
}

func resultsOf(ws []*worker, timeout time.Duration) ([]childResult, error) {
	var out []childResult
	for _, w := range ws {
		r, err := w.result(timeout)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
