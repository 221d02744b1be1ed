//go:build unix

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/daemoneye/eventbus/wire"
)

// Roles: the processes ebbench runs itself as.
const (
	roleBroker = "broker" // the broker, on a socket in the bench's directory
	rolePub    = "pub"    // an eventbus publisher
	roleSub    = "sub"    // an eventbus subscriber
	roleReq    = "req"    // the requester of reqrep
	roleResp   = "resp"   // the responder of reqrep
	roleRawPub = "rawpub" // writes frames to a bare socket
	roleRawSub = "rawsub" // reads frames from a bare socket
	roleRelay  = "relay"  // copies bytes from one socket to another
)

// Commands the parent writes to a child's stdin, one per line. The end of
// stdin tells a child to stop: at once, or for the broker, cleanly.
const (
	cmdGo   = "go"   // a sender starts sending
	cmdDone = "done" // the senders are done: a receiver may give up when it goes quiet
	cmdCPU  = "cpu"  // "cpu N": answer with an evCPU event carrying N
)

// Events a child writes to its stdout, as JSON lines.
const (
	evReady    = "ready"    // set up: connected, subscribed, listening
	evProgress = "progress" // N messages so far
	evResult   = "result"   // the role's outcome; the last line
	evError    = "error"    // the role failed; the last line
	evCPU      = "cpu"      // the answer to cmdCPU
)

// progressEvery is how often a child reports progress.
const progressEvery = 250 * time.Millisecond

// roleConfig is a child's command line. The parent builds it and turns it
// into flags with args; the child parses them back with parseRole.
type roleConfig struct {
	role    string
	socket  string // the broker's endpoint (eventbus roles and broker)
	addr    string // raw roles: the socket to listen on (rawsub, relay) or dial (rawpub)
	to      string // relay: the subscriber's socket
	name    string // client name to claim
	topic   string
	crc     wire.CRC
	reuse   bool  // clients: Options.ReuseMessages
	index   int   // publisher number, in the payload's sequence numbers
	count   int64 // senders: messages to send; receivers: messages expected
	size    int
	rate    int  // messages per second; 0 means as fast as possible
	latency bool // receivers: record latencies
	quiet   time.Duration
	timeout time.Duration // bound on the whole role

	managed       bool // broker: run by the bench, which ends it by closing stdin
	queueMessages int
	queueBytes    int
	cpuProfile    string
	memProfile    string
}

func (c *roleConfig) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.role, "role", "", "the role to run")
	fs.StringVar(&c.socket, "socket", "", "broker endpoint")
	fs.StringVar(&c.addr, "addr", "", "raw socket to listen on or dial")
	fs.StringVar(&c.to, "to", "", "relay: socket to copy to")
	fs.StringVar(&c.name, "name", "", "client name")
	fs.StringVar(&c.topic, "topic", "", "topic")
	fs.TextVar(&c.crc, "crc", wire.CRCIEEE, "frame checksum")
	fs.BoolVar(&c.reuse, "reuse-messages", false, "clients: reuse delivered messages' memory")
	fs.IntVar(&c.index, "index", 0, "publisher number")
	fs.Int64Var(&c.count, "count", 0, "messages to send or expect")
	fs.IntVar(&c.size, "size", 0, "payload bytes")
	fs.IntVar(&c.rate, "rate", 0, "messages per second (0: unpaced)")
	fs.BoolVar(&c.latency, "latency", false, "record latencies")
	fs.DurationVar(&c.quiet, "quiet", 2*time.Second, "give up this long after the last message once told done")
	fs.DurationVar(&c.timeout, "timeout", 0, "bound on the whole role (0: none)")
	fs.BoolVar(&c.managed, "managed", false, "broker: stop when stdin ends")
	fs.IntVar(&c.queueMessages, "queue-messages", 0, "broker: queue per receiver, messages (0: default)")
	fs.IntVar(&c.queueBytes, "queue-bytes", 0, "broker: queue per receiver, bytes (0: default)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile to `file` at the end")
	fs.StringVar(&c.memProfile, "memprofile", "", "broker: write a heap profile to `file` at shutdown")
}

// args returns the flags that give c, those that differ from the defaults,
// with -role first.
func (c roleConfig) args() []string {
	var cur roleConfig
	fs := flag.NewFlagSet("role", flag.ContinueOnError)
	cur.bind(fs) // records the defaults
	cur = c      // the flags now read c's values
	out := []string{"-role=" + c.role}
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "role" && f.Value.String() != f.DefValue {
			out = append(out, "-"+f.Name+"="+f.Value.String())
		}
	})
	return out
}

// isRole reports whether the command line is a child's: it starts with
// -role.
func isRole(args []string) bool {
	return len(args) > 0 && (strings.HasPrefix(args[0], "-role") || strings.HasPrefix(args[0], "--role"))
}

func parseRole(args []string) (roleConfig, error) {
	var c roleConfig
	fs := flag.NewFlagSet("ebbench -role", flag.ContinueOnError)
	c.bind(fs)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return c, nil
}

// message is one line a child writes to its stdout.
type message struct {
	Event  string      `json:"event"`
	N      int64       `json:"n,omitempty"`
	Error  string      `json:"error,omitempty"`
	Result *roleResult `json:"result,omitempty"`
	// CPUNs is the process's CPU time so far, user and system, in
	// nanoseconds: set on cpu and result events, so that the parent can
	// take what a scenario cost each process between two of them.
	CPUNs int64 `json:"cpu_ns,omitempty"`
}

// roleResult is what a role measured. Times are Unix nanoseconds of the
// host's clock, which all processes share.
type roleResult struct {
	Sent     int64 `json:"sent,omitempty"`
	StartNs  int64 `json:"start_ns,omitempty"` // senders: first send
	EndNs    int64 `json:"end_ns,omitempty"`   // senders: last send confirmed or written
	Received int64 `json:"received,omitempty"`
	FirstNs  int64 `json:"first_ns,omitempty"` // receivers: first message
	LastNs   int64 `json:"last_ns,omitempty"`  // receivers: last message
	Gaps     int64 `json:"gaps,omitempty"`     // messages missing between sequence numbers
	Dups     int64 `json:"dups,omitempty"`     // repeated or out of order
	Dropped  int64 `json:"dropped,omitempty"`  // drops the broker reported
	Bad      int64 `json:"bad,omitempty"`      // payloads too short to carry a sequence number
	Clamped  int64 `json:"clamped,omitempty"`  // latencies outside the histogram's range
	// Hist is an HDR histogram of latencies in nanoseconds, in the V2
	// compressed encoding (base64).
	Hist   string       `json:"hist,omitempty"`
	Broker *brokerStats `json:"broker,omitempty"`
}

type brokerStats struct {
	Published uint64 `json:"published"`
	Routed    uint64 `json:"routed"`
	Dropped   uint64 `json:"dropped"`
	// FlowWaits and FlowGiveUps are the broker's flow-control counters.
	FlowWaits   uint64 `json:"flow_waits"`
	FlowGiveUps uint64 `json:"flow_give_ups"`
}

// childIO is a child's side of the conversation with the parent.
type childIO struct {
	mu  sync.Mutex // serializes lines on stdout
	out *json.Encoder

	goCh   chan struct{} // closed on cmdGo
	doneCh chan struct{} // closed on cmdDone
	endCh  chan struct{} // closed when stdin ends
}

// newChildIO reads commands from stdin, unless it is nil, and writes
// events to stdout.
func newChildIO(stdin io.Reader, stdout io.Writer) *childIO {
	cio := &childIO{
		out:    json.NewEncoder(stdout),
		goCh:   make(chan struct{}),
		doneCh: make(chan struct{}),
		endCh:  make(chan struct{}),
	}
	if stdin != nil {
		go cio.readCommands(stdin)
	}
	return cio
}

func (cio *childIO) readCommands(stdin io.Reader) {
	defer close(cio.endCh)
	var gone, done bool
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if arg, ok := strings.CutPrefix(line, cmdCPU+" "); ok {
			n, _ := strconv.ParseInt(arg, 10, 64)
			cio.send(message{Event: evCPU, N: n})
			continue
		}
		switch line {
		case cmdGo:
			if !gone {
				gone = true
				close(cio.goCh)
			}
		case cmdDone:
			if !done {
				done = true
				close(cio.doneCh)
			}
		}
	}
}

func (cio *childIO) send(m message) {
	switch m.Event {
	case evResult, evCPU:
		m.CPUNs = processCPU()
	}
	cio.mu.Lock()
	defer cio.mu.Unlock()
	_ = cio.out.Encode(m) // a parent that stopped reading is gone: stdin ends too
}

// waitGo waits for the parent's go.
func (cio *childIO) waitGo(ctx context.Context) error {
	select {
	case <-cio.goCh:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// reportProgress sends the value of n every progressEvery when it has
// changed, until the returned function is called.
func (cio *childIO) reportProgress(n func() int64) (stop func()) {
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		last := int64(-1)
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				if v := n(); v != last {
					last = v
					cio.send(message{Event: evProgress, N: v})
				}
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// errStdinClosed is the cause of a role's context when the parent closed
// its stdin: the role is to stop.
var errStdinClosed = errors.New("ebbench: told to stop")

// roleFunc runs a role until done; its context ends when stdin ends (for
// every role but the broker), on SIGINT or SIGTERM, and after -timeout.
type roleFunc func(ctx context.Context, cfg roleConfig, cio *childIO) (*roleResult, error)

var roles = map[string]roleFunc{
	roleBroker: runBroker,
	rolePub:    runPub,
	roleSub:    runSub,
	roleReq:    runReq,
	roleResp:   runResp,
	roleRawPub: runRawPub,
	roleRawSub: runRawSub,
	roleRelay:  runRelay,
}

// runRole runs a child and returns its exit code. The outcome is the last
// line on stdout: a result or an error.
func runRole(args []string) int {
	cfg, err := parseRole(args)
	if err != nil {
		return 2
	}
	fn := roles[cfg.role]
	if fn == nil {
		fmt.Fprintf(os.Stderr, "ebbench: unknown role %q\n", cfg.role)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, cfg.timeout, fmt.Errorf("ebbench %s: gave up after -timeout %v", cfg.role, cfg.timeout))
		defer cancel()
	}
	stdin := io.Reader(os.Stdin)
	if cfg.role == roleBroker && !cfg.managed {
		stdin = nil // started by hand: only signals stop it
	}
	cio := newChildIO(stdin, os.Stdout)
	if cfg.role != roleBroker {
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		go func() {
			select {
			case <-cio.endCh:
				cancel(errStdinClosed)
			case <-ctx.Done():
			}
		}()
	}
	var stopProfile func() error
	if cfg.role != roleBroker && cfg.cpuProfile != "" {
		// The broker profiles itself, around its own shutdown.
		stopProfile, err = startProfiles(roleConfig{cpuProfile: cfg.cpuProfile})
		if err != nil {
			fmt.Fprintf(os.Stderr, "ebbench %s: %v\n", cfg.role, err)
			return 1
		}
	}
	res, err := fn(ctx, cfg, cio)
	if stopProfile != nil {
		// Before the outcome: the parent may end the process once it has it.
		err = errors.Join(err, stopProfile())
	}
	switch {
	case err != nil && errors.Is(context.Cause(ctx), errStdinClosed):
		return 0 // told to stop: the parent no longer listens
	case err != nil:
		cio.send(message{Event: evError, Error: err.Error()})
		return 1
	case res == nil:
		res = &roleResult{}
	}
	cio.send(message{Event: evResult, Result: res})
	return 0
}

// childLogger logs warnings and errors to stderr, naming the role.
func childLogger(cfg roleConfig) *slog.Logger {
	h := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})
	return slog.New(h).With("ebbench", fmt.Sprintf("%s[%d]", cfg.role, cfg.index))
}
