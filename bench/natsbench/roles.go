package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/daemoneye/eventbus/bench/internal/result"
)

// roleFlag, as the first argument, runs one role of a scenario in this
// process. It is not among the flags -h lists: only the parent uses it.
const roleFlag = "-role"

// Roles.
const (
	rolePub       = "pub"       // publishes -count messages as fast as it can
	roleSub       = "sub"       // counts -count messages
	roleLatPub    = "latpub"    // publishes -count messages at -rate with the send time inside
	roleLatSub    = "latsub"    // records each message's one-way latency
	roleRequester = "requester" // sends -count sequential requests
	roleResponder = "responder" // answers requests until told to stop
)

// roleArgs are the flags of a role process.
type roleArgs struct {
	url     string
	subject string
	count   int
	size    int
	rate    int
	warmup  int
	quiet   time.Duration
	pacer   string
}

func (a roleArgs) flags() []string {
	return []string{"-url", a.url, "-subject", a.subject,
		"-count", fmt.Sprint(a.count), "-size", fmt.Sprint(a.size),
		"-rate", fmt.Sprint(a.rate), "-warmup", fmt.Sprint(a.warmup),
		"-quiet", a.quiet.String(), "-pacer", a.pacer}
}

// role is one role process: its connection, its commands and its counters.
type role struct {
	args roleArgs
	nc   *nats.Conn
	cmds chan string

	mu  sync.Mutex
	res childResult // connection events, filled by the handlers
}

func runRole(name string, argv []string) error {
	var a roleArgs
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&a.url, "url", "", "")
	fs.StringVar(&a.subject, "subject", "", "")
	fs.IntVar(&a.count, "count", 0, "")
	fs.IntVar(&a.size, "size", 0, "")
	fs.IntVar(&a.rate, "rate", 0, "")
	fs.IntVar(&a.warmup, "warmup", 0, "")
	fs.DurationVar(&a.quiet, "quiet", 2*time.Second, "")
	fs.StringVar(&a.pacer, "pacer", pacerHR, "")
	if err := fs.Parse(argv); err != nil {
		return err
	}
	r := &role{args: a, cmds: make(chan string, 4)}
	if err := r.connect(name); err != nil {
		return err
	}
	defer r.nc.Close()
	go r.readCommands()
	var res childResult
	var err error
	switch name {
	case rolePub:
		res, err = r.pub()
	case roleSub:
		res, err = r.sub()
	case roleLatPub:
		res, err = r.latPub()
	case roleLatSub:
		res, err = r.latSub()
	case roleRequester:
		res, err = r.requester()
	case roleResponder:
		res, err = r.responder()
	default:
		return errors.New("unknown role " + name)
	}
	if err != nil {
		return err
	}
	r.mu.Lock()
	res.Disconnects, res.Reconnects = r.res.Disconnects, r.res.Reconnects
	res.AsyncErrors, res.LastError = r.res.AsyncErrors, r.res.LastError
	r.mu.Unlock()
	if now, ok := selfCPU(); ok && goCPU.Load() > 0 {
		res.CPUNS = now - goCPU.Load()
	}
	js, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Println(lineResult + string(js))
	return nil
}

// connect connects with handlers that count what happens to the
// connection, so a result can say whether the server dropped us.
func (r *role) connect(name string) error {
	note := func(f func(*childResult), err error) {
		r.mu.Lock()
		f(&r.res)
		if err != nil {
			r.res.LastError = err.Error()
		}
		r.mu.Unlock()
	}
	nc, err := nats.Connect(r.args.url, nats.Name("natsbench-"+name),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			note(func(c *childResult) { c.Disconnects++ }, err)
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			note(func(c *childResult) { c.Reconnects++ }, nil)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			note(func(c *childResult) { c.AsyncErrors++ }, err)
		}))
	if err != nil {
		return fmt.Errorf("%s: connect %s: %w", name, r.args.url, err)
	}
	r.nc = nc
	return nil
}

// readCommands forwards the parent's command lines. The first "go" also
// starts the count of this process's CPU time, so that every process of a
// scenario counts from the moment the publishers are released.
func (r *role) readCommands() {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == cmdGo && goCPU.Load() == 0 {
			if ns, ok := selfCPU(); ok {
				goCPU.Store(ns)
			}
		}
		r.cmds <- sc.Text()
	}
	close(r.cmds)
}

// await waits for the command want. A closed stdin means the parent is gone.
func (r *role) await(want string) error {
	for c := range r.cmds {
		if c == want {
			return nil
		}
	}
	return errors.New("parent closed stdin before " + want)
}

// goCPU is this process's CPU time when the parent said "go", which its
// result's CPU time counts from; 0 before then.
var goCPU atomic.Int64

func ready() { fmt.Println(lineReady) }

// pub publishes count messages as fast as the client takes them, then
// flushes, which returns once the server has processed them all.
func (r *role) pub() (childResult, error) {
	payload := make([]byte, r.args.size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	ready()
	if err := r.await(cmdGo); err != nil {
		return childResult{}, err
	}
	start := time.Now()
	for i := 0; i < r.args.count; i++ {
		if err := r.nc.Publish(r.args.subject, payload); err != nil {
			return childResult{}, fmt.Errorf("publish %d: %w", i, err)
		}
	}
	if err := r.nc.FlushTimeout(time.Minute); err != nil {
		return childResult{}, fmt.Errorf("flush: %w", err)
	}
	return childResult{Sent: int64(r.args.count), StartNS: start.UnixNano(), Seconds: time.Since(start).Seconds()}, nil
}

// sub counts messages until count have arrived, or, once the parent says
// the publishers are done, until none has arrived for the quiet period.
func (r *role) sub() (childResult, error) {
	var n, firstNS, lastNS atomic.Int64
	all := make(chan struct{})
	expect := int64(r.args.count)
	s, err := r.nc.Subscribe(r.args.subject, func(*nats.Msg) {
		c := n.Add(1)
		if c == 1 {
			firstNS.Store(time.Now().UnixNano())
		}
		if c == expect {
			lastNS.Store(time.Now().UnixNano())
			close(all)
		}
	})
	if err != nil {
		return childResult{}, err
	}
	if err := r.ready(s); err != nil {
		return childResult{}, err
	}
	progressNS := r.waitAll(all, &n)
	res := childResult{Received: n.Load(), FirstNS: firstNS.Load(), LastNS: lastNS.Load()}
	if res.LastNS == 0 {
		res.LastNS = progressNS
	}
	return res, nil
}

// ready lifts the client's pending limits, so the client itself never
// drops, makes sure the server has the subscription, and tells the parent.
func (r *role) ready(s *nats.Subscription) error {
	if err := s.SetPendingLimits(-1, -1); err != nil {
		return err
	}
	if err := r.nc.Flush(); err != nil {
		return err
	}
	ready()
	return nil
}

// waitAll returns when all is closed, or when the parent has said "done"
// and n has not moved for the quiet period. It returns the wall-clock time
// n last moved, to within a millisecond.
func (r *role) waitAll(all <-chan struct{}, n *atomic.Int64) int64 {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	cmds := r.cmds
	var last int64
	lastMove, quietFrom := time.Now(), time.Time{}
	for {
		select {
		case <-all:
			return time.Now().UnixNano()
		case c, ok := <-cmds:
			if !ok || c == cmdDone {
				cmds, quietFrom = nil, time.Now()
			}
		case now := <-tick.C:
			if v := n.Load(); v != last {
				last, lastMove = v, now
			}
			if !quietFrom.IsZero() && now.Sub(lastMove) > r.args.quiet && now.Sub(quietFrom) > r.args.quiet {
				return lastMove.UnixNano()
			}
		}
	}
}

// latPub publishes warmup+count messages at rate, each carrying its send
// time (wall clock, ns) and sequence number in its first 16 bytes.
func (r *role) latPub() (childResult, error) {
	payload := make([]byte, max(r.args.size, 16))
	total := r.args.warmup + r.args.count
	ready()
	if err := r.await(cmdGo); err != nil {
		return childResult{}, err
	}
	start := time.Now()
	p := newWaiter(r.args.pacer, time.Second/time.Duration(r.args.rate))
	for i := 0; i < total; i++ {
		p.wait(i)
		binary.LittleEndian.PutUint64(payload[8:], uint64(i))
		binary.LittleEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
		if err := r.nc.Publish(r.args.subject, payload); err != nil {
			return childResult{}, fmt.Errorf("publish %d: %w", i, err)
		}
	}
	if err := r.nc.FlushTimeout(time.Minute); err != nil {
		return childResult{}, fmt.Errorf("flush: %w", err)
	}
	return childResult{Sent: int64(total), Seconds: time.Since(start).Seconds()}, nil
}

// latSub records the latency of every message after the warm-up.
func (r *role) latSub() (childResult, error) {
	h := result.NewHistogram()
	var n, clamped atomic.Int64
	all := make(chan struct{})
	expect := int64(r.args.warmup + r.args.count)
	warm := uint64(r.args.warmup)
	var mu sync.Mutex // the callback runs on one goroutine; mu orders it with the read below
	s, err := r.nc.Subscribe(r.args.subject, func(m *nats.Msg) {
		now := time.Now().UnixNano()
		if len(m.Data) >= 16 && binary.LittleEndian.Uint64(m.Data[8:]) >= warm {
			sent := int64(binary.LittleEndian.Uint64(m.Data))
			mu.Lock()
			if result.RecordNanos(h, now-sent) {
				clamped.Add(1)
			}
			mu.Unlock()
		}
		if n.Add(1) == expect {
			close(all)
		}
	})
	if err != nil {
		return childResult{}, err
	}
	if err := r.ready(s); err != nil {
		return childResult{}, err
	}
	r.waitAll(all, &n)
	_ = s.Unsubscribe()
	mu.Lock()
	defer mu.Unlock()
	d := result.DistOf(h)
	return childResult{Received: h.TotalCount(), Clamped: clamped.Load(), Dist: &d}, nil
}

// requester sends warmup+count requests one after another and records
// the round trip of each after the warm-up.
func (r *role) requester() (childResult, error) {
	h := result.NewHistogram()
	payload := make([]byte, r.args.size)
	ready()
	if err := r.await(cmdGo); err != nil {
		return childResult{}, err
	}
	for i := 0; i < r.args.warmup; i++ {
		if _, err := r.nc.Request(r.args.subject, payload, 5*time.Second); err != nil {
			return childResult{}, fmt.Errorf("warm-up request %d: %w", i, err)
		}
	}
	var clamped int64
	start := time.Now()
	for i := 0; i < r.args.count; i++ {
		t := time.Now()
		if _, err := r.nc.Request(r.args.subject, payload, 5*time.Second); err != nil {
			return childResult{}, fmt.Errorf("request %d: %w", i, err)
		}
		if result.RecordNanos(h, int64(time.Since(t))) {
			clamped++
		}
	}
	secs := time.Since(start).Seconds()
	d := result.DistOf(h)
	return childResult{Sent: int64(r.args.count), Seconds: secs, Clamped: clamped, Dist: &d}, nil
}

// responder echoes every request until the parent says "done".
func (r *role) responder() (childResult, error) {
	var n atomic.Int64
	s, err := r.nc.Subscribe(r.args.subject, func(m *nats.Msg) {
		_ = m.Respond(m.Data)
		n.Add(1)
	})
	if err != nil {
		return childResult{}, err
	}
	if err := r.ready(s); err != nil {
		return childResult{}, err
	}
	if err := r.await(cmdDone); err != nil {
		return childResult{}, err
	}
	return childResult{Received: n.Load()}, nil
}
