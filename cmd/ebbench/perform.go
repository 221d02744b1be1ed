//go:build unix

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"
)

// progressInterval is how often the parent prints progress.
const progressInterval = 500 * time.Millisecond

// cast is the processes of a scenario, in the order they start, each
// group waited for until ready before the next starts: the receivers, then
// those in the middle (a relay, a responder), then the senders.
type cast struct {
	receivers, middle, senders []roleConfig
}

// outcome is what the senders and receivers of a scenario reported, in
// the order of the cast.
type outcome struct {
	senders, receivers []*roleResult
	// cpu is the CPU time, user and system, that the system's processes
	// spent from the senders' go to the last result, in nanoseconds, summed
	// by cpuGroup. It is nil when one of them could not be measured: a
	// broker that ebbench did not start (-socket).
	cpu map[string]int64
}

// cpuProbe is a process whose CPU time a scenario counts.
type cpuProbe struct {
	group      string
	c          *child
	start, end int64
	reported   bool // end came with the process's result
}

// cpuGroup names the processes of a role in a result's CPU breakdown.
func cpuGroup(role string) string {
	switch role {
	case rolePub, roleRawPub:
		return "publishers"
	case roleSub, roleRawSub:
		return "subscribers"
	case roleReq:
		return "requester"
	case roleResp:
		return "responder"
	}
	return role // broker, relay
}

// cpuQuestions numbers the cpu commands, so that an answer that came too
// late for one question is not taken for the answer to the next.
var cpuQuestions atomic.Int64

// askCPU asks every probe's process for its CPU time so far and stores it
// with set. A process that reported its result first, as a relay does
// when its input ends, answers with that: the result carries its CPU time.
func askCPU(ctx context.Context, probes []*cpuProbe, set func(p *cpuProbe, ns int64)) error {
	q := cpuQuestions.Add(1)
	for _, p := range probes {
		_ = p.c.tell(fmt.Sprintf("%s %d", cmdCPU, q)) // one that cannot be told has exited, which await reports
	}
	for _, p := range probes {
		for {
			m, err := p.c.await(ctx, evCPU, readyTimeout)
			if err == nil && m.N != q {
				continue // the answer to an earlier question
			}
			if err != nil && m.Event != evResult {
				return err
			}
			set(p, m.CPUNs)
			break
		}
	}
	return nil
}

// perform runs a cast: it starts the processes, tells the senders to go,
// waits for the senders' results, tells the receivers the senders are
// done and waits for theirs, all within limit once the senders started.
// total is the number of messages progress counts towards, at the
// receivers or, when there are none, the senders. Every process has ended
// when it returns.
func (b *bench) perform(ctx context.Context, sc scenario, c cast, total int64, limit time.Duration) (outcome, error) {
	var all []*child
	defer func() {
		if err := stopAll(all, exitGrace); err != nil {
			b.logf("%s: %v", sc.name, err)
		}
	}()
	b.logf("%s: starting %s", sc.name, describe(sc, b.opts, total))
	start := func(cfgs []roleConfig) ([]*child, error) {
		var kids []*child
		for i, cfg := range cfgs {
			// A backstop: the child gives up by itself should the
			// parent's own bounds somehow fail.
			cfg.timeout = limit + 2*readyTimeout
			if dir := b.opts.clientProfiles; dir != "" {
				cfg.cpuProfile = filepath.Join(dir, fmt.Sprintf("%s-%s-%d.cpu", sc.name, cfg.role, i))
			}
			k, err := b.sup.start(fmt.Sprintf("%s %s[%d]", sc.name, cfg.role, i), cfg)
			if err != nil {
				return nil, err
			}
			kids = append(kids, k)
			all = append(all, k)
		}
		for _, k := range kids {
			if _, err := k.await(ctx, evReady, readyTimeout); err != nil {
				return nil, err
			}
		}
		return kids, nil
	}
	receivers, err := start(c.receivers)
	if err != nil {
		return outcome{}, err
	}
	if _, err := start(c.middle); err != nil {
		return outcome{}, err
	}
	senders, err := start(c.senders)
	if err != nil {
		return outcome{}, err
	}
	counted := receivers
	if len(counted) == 0 {
		counted = senders
	}
	stop := b.watch(sc.name, total, counted)
	defer stop()

	// Every process of the system is counted: the broker, unless it is
	// not this run's, and the whole cast.
	var probes, asked []*cpuProbe
	measured := sc.system != systemEventbus || b.broker != nil
	if sc.system == systemEventbus && b.broker != nil {
		probes = append(probes, &cpuProbe{group: cpuGroup(roleBroker), c: b.broker})
	}
	byChild := make(map[*child]*cpuProbe)
	for i, k := range all {
		p := &cpuProbe{group: cpuGroup(castRoles(c)[i]), c: k}
		probes = append(probes, p)
		byChild[k] = p
	}
	if err := askCPU(ctx, probes, func(p *cpuProbe, ns int64) { p.start = ns }); err != nil {
		return outcome{}, err
	}

	deadline := time.Now().Add(limit)
	// A child that cannot be told has exited, which await reports.
	for _, k := range senders {
		_ = k.tell(cmdGo)
	}
	var out outcome
	for _, k := range senders {
		m, err := k.await(ctx, evResult, time.Until(deadline))
		if err != nil {
			return outcome{}, err
		}
		out.senders = append(out.senders, m.Result)
		byChild[k].end, byChild[k].reported = m.CPUNs, true
	}
	for _, k := range receivers {
		_ = k.tell(cmdDone) // it may have finished already
	}
	for _, k := range receivers {
		m, err := k.await(ctx, evResult, time.Until(deadline))
		if err != nil {
			return outcome{}, err
		}
		out.receivers = append(out.receivers, m.Result)
		byChild[k].end, byChild[k].reported = m.CPUNs, true
	}
	// The broker and those in the middle go on: ask them.
	for _, p := range probes {
		if !p.reported {
			asked = append(asked, p)
		}
	}
	if err := askCPU(ctx, asked, func(p *cpuProbe, ns int64) { p.end = ns }); err != nil {
		return outcome{}, err
	}
	if measured {
		out.cpu = make(map[string]int64)
		for _, p := range probes {
			if p.end < p.start {
				return outcome{}, fmt.Errorf("%s: CPU time went from %d to %d ns", p.c.name, p.start, p.end)
			}
			out.cpu[p.group] += p.end - p.start
		}
	}
	return out, nil
}

// castRoles lists the roles of a cast in the order perform starts them.
func castRoles(c cast) []string {
	var roles []string
	for _, group := range [][]roleConfig{c.receivers, c.middle, c.senders} {
		for _, cfg := range group {
			roles = append(roles, cfg.role)
		}
	}
	return roles
}

// describe says what a scenario is about to do.
func describe(sc scenario, o *options, total int64) string {
	switch {
	case sc.kind == kindReqRep:
		return fmt.Sprintf("%d round trips of %d B", total, o.size)
	case sc.kind == kindLatency:
		return fmt.Sprintf("%d messages of %d B at %d msg/s", total, o.size, o.rate)
	}
	return fmt.Sprintf("%d publisher(s) × %d messages of %d B to %d subscriber(s)", sc.pubs, o.count, o.size, sc.subs)
}

// watch prints the progress of kids towards total every progressInterval
// until stopped.
func (b *bench) watch(name string, total int64, kids []*child) (stop func()) {
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		last, lastAt := int64(0), time.Now()
		for {
			select {
			case <-quit:
				return
			case now := <-t.C:
				var n int64
				for _, k := range kids {
					n += k.progress.Load()
				}
				rate := float64(n-last) / now.Sub(lastAt).Seconds()
				last, lastAt = n, now
				b.logf("%s: %s/%s msgs, %s msgs/s", name, group(n), group(total), group(int64(rate)))
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// group formats n with thousands separators.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		out = append(out, '-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
