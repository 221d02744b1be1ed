package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/client"
	"github.com/daemoneye/eventbus/internal/procwatch"
	"github.com/daemoneye/eventbus/presence"
	"github.com/daemoneye/eventbus/topic"
	"github.com/daemoneye/eventbus/transport"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// The demo's cast: the agent subscribes with wildcards, two collectors
// publish. The process collector is procwatch, the real process monitor;
// the network collector is simulated.
var demoCollectors = []struct{ kind, name, what string }{
	{"process", "procmond", "procwatch"},
	{"network", "netmond", "simulated"},
}

// demoStopGrace bounds how long a demo process may take to exit when told.
const demoStopGrace = 5 * time.Second

func runDemo(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet("demo", "", env.stderr)
	duration := fs.Duration("duration", 5*time.Second, "how long events flow")
	rate := fs.Int("rate", 4, "events per second from each collector")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "eventbus-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	socket := filepath.Join(dir, "run", "bus.sock")

	log := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := broker.New(broker.Config{Logger: log, LocalName: "daemoneye-agent"})
	if err != nil {
		return err
	}
	ln, err := transport.Listen(socket, nil)
	if err != nil {
		return err
	}
	go b.Serve(ln)
	defer b.Close()
	fmt.Fprintf(env.stdout, "demo: broker listening on %s (pid %d)\n", socket, os.Getpid())

	out := &lockedWriter{w: env.stdout}
	var procs []*demoProc
	defer func() { stopAll(procs, env.stderr) }()

	// The agent-side subscriber, a process of its own, with + and # filters.
	agent, err := startDemoProc(exe, "[agent]   ", out, env.stderr,
		"sub", "-socket", socket, "-name", "daemoneye-agent", "-decode",
		"events.+.lifecycle", "events.network.#", "events.process.tree", "control.health.heartbeat", "control.health.status")
	if err != nil {
		return err
	}
	procs = append(procs, agent)
	if err := waitFor(ctx, 10*time.Second, func() bool { return b.Stats().Subscriptions >= 5 }); err != nil {
		return fmt.Errorf("demo subscriber did not subscribe: %w", err)
	}
	// The agent tracks its collectors' heartbeats in process; the
	// subscriber shows each change of state on control.health.status.
	pctx, stopPresence := context.WithCancel(ctx)
	presenceDone := make(chan error, 1)
	go func() { presenceDone <- presence.Run(pctx, presence.OnBroker(b), presence.Config{Logger: log}) }()
	defer func() {
		stopPresence()
		<-presenceDone
	}()
	for _, c := range demoCollectors {
		p, err := startDemoProc(exe, "["+c.name+"] ", out, env.stderr,
			"demo-collector", "-socket", socket, "-kind", c.kind, "-name", c.name, "-rate", strconv.Itoa(*rate))
		if err != nil {
			return err
		}
		procs = append(procs, p)
		fmt.Fprintf(env.stdout, "demo: started %s (%s, pid %d)\n", c.name, c.what, p.cmd.Process.Pid)
	}

	// Every second the demo starts a short-lived process for procwatch to
	// see start and exit, and, as the agent, which hosts the broker, sends a
	// process-tree task in process.
	children, err := watchChildren(b)
	if err != nil {
		return err
	}
	defer children.wg.Wait()
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	deadline := time.After(*duration)
	for seq := 1; ; seq++ {
		select {
		case <-ctx.Done():
			return demoSummary(env.stdout, b)
		case <-deadline:
			// Let procwatch report the last short-lived processes' exits
			// before it is stopped.
			children.wg.Wait()
			_ = waitFor(ctx, 2*time.Second, children.allReported)
			stopAll(procs, env.stderr)
			procs = nil
			children.summary(env.stdout)
			return demoSummary(env.stdout, b)
		case <-ticker.C:
			children.start(env.stderr, seq == 1)
			task, _ := proto.Marshal(&pb.CollectorTask{
				TaskId: fmt.Sprintf("task-%d", seq), CollectorKind: "process", Action: "process_tree",
				Parameters: map[string]string{"pid": strconv.Itoa(os.Getpid())},
			})
			if _, err := b.Publish(topic.CollectorTaskTopic("process"), task, nil); err != nil {
				return err
			}
		}
	}
}

func demoSummary(w io.Writer, b *broker.Broker) error {
	st := b.Stats()
	fmt.Fprintf(w, "demo: done: %d events published, %d deliveries, %d dropped, %d sessions served\n",
		st.Published, st.Routed, st.Dropped, st.Accepted)
	if st.Dropped > 0 {
		return fmt.Errorf("demo: %d events dropped", st.Dropped)
	}
	return nil
}

// demoChildLife is how long the demo's short-lived processes live: a few of
// procwatch's scan intervals, so that it sees them.
const demoChildLife = "0.3"

// demoChildren are the short-lived processes the demo starts for procwatch
// to see, and which of them procwatch has reported stopping.
type demoChildren struct {
	wg sync.WaitGroup

	mu       sync.Mutex // guards the fields below
	started  int
	reported int
	pending  map[uint32]bool // started, not yet reported stopped
}

// watchChildren subscribes the demo, in process, to the lifecycle events
// that procwatch publishes about the demo's children.
func watchChildren(b *broker.Broker) (*demoChildren, error) {
	ch := &demoChildren{pending: make(map[uint32]bool)}
	_, err := b.Subscribe(topic.EventsProcessLifecycle, func(m *broker.Message) {
		var ev pb.ProcessEvent
		if proto.Unmarshal(m.Payload, &ev) != nil || ev.Kind != pb.ProcessEvent_KIND_STOP {
			return
		}
		ch.mu.Lock()
		defer ch.mu.Unlock()
		if ch.pending[ev.Pid] {
			delete(ch.pending, ev.Pid)
			ch.reported++
		}
	})
	return ch, err
}

// start starts `sleep demoChildLife` and reaps it in the background. When
// sleep cannot be started the demo goes on without it, saying so once.
func (ch *demoChildren) start(stderr io.Writer, first bool) {
	cmd := exec.Command("sleep", demoChildLife)
	if err := cmd.Start(); err != nil {
		if first {
			fmt.Fprintln(stderr, "demo: cannot start short-lived processes:", err)
		}
		return
	}
	ch.mu.Lock()
	ch.started++
	ch.pending[uint32(cmd.Process.Pid)] = true
	ch.mu.Unlock()
	ch.wg.Add(1)
	go func() {
		defer ch.wg.Done()
		_ = cmd.Wait()
	}()
}

func (ch *demoChildren) allReported() bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return len(ch.pending) == 0
}

func (ch *demoChildren) summary(w io.Writer) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	fmt.Fprintf(w, "demo: procwatch reported the exit of %d of the %d short-lived processes the demo started\n", ch.reported, ch.started)
}

// waitFor polls cond until it holds, ctx ends or the timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// demoProc is a child process whose output lines are prefixed and merged.
type demoProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startDemoProc(exe, prefix string, out io.Writer, stderr io.Writer, args ...string) (*demoProc, error) {
	cmd := exec.Command(exe, args...)
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &demoProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintf(out, "%s%s\n", prefix, sc.Text())
		}
		_ = cmd.Wait()
	}()
	return p, nil
}

// stopAll asks each process to stop, in reverse start order (collectors
// before the subscriber, so it sees their last events), and kills those that
// do not stop in time.
func stopAll(procs []*demoProc, stderr io.Writer) {
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(demoStopGrace):
			fmt.Fprintf(stderr, "demo: pid %d did not stop; killing it\n", p.cmd.Process.Pid)
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// runDemoCollector runs one of the demo's collectors. Kind process is
// procwatch, the real process monitor (see cmd/procwatch). Kind network is
// simulated: it publishes made-up connections at a fixed rate and
// heartbeats every second.
func runDemoCollector(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet("demo-collector", "", env.stderr)
	var cf connFlags
	cf.bind(fs, operatorName)
	kind := fs.String("kind", "process", "process (procwatch) or network (simulated)")
	rate := fs.Int("rate", 4, "events per second (network)")
	interval := fs.Duration("interval", 100*time.Millisecond, "time between scans of /proc (process)")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	switch {
	case *kind == "process":
		return runDemoProcwatch(ctx, env, &cf, *interval)
	case *kind != "network":
		return fmt.Errorf("%w: -kind must be process or network", errUsage)
	case *rate <= 0:
		return fmt.Errorf("%w: -rate must be positive", errUsage)
	}
	c, err := cf.dialLasting(ctx, env.stderr, func(err error) { fmt.Fprintln(env.stderr, "demo-collector:", err) })
	if err != nil {
		return err
	}
	defer c.Close()
	events := time.NewTicker(time.Second / time.Duration(*rate))
	defer events.Stop()
	stopBeats := c.StartHeartbeat(time.Second, func() (string, map[string]string) {
		return "ok", map[string]string{"pid": strconv.Itoa(os.Getpid())}
	})
	defer stopBeats()
	for seq := uint64(1); ; {
		select {
		case <-ctx.Done():
			return nil
		case <-c.Done():
			return c.Err()
		case <-events.C:
			if err := c.Publish(ctx, "events.network.connections", simulatedConnection(seq),
				client.WithCorrelation(&pb.Correlation{Sequence: seq})); err != nil {
				return ignoreCancel(err)
			}
			seq++
		}
	}
}

// runDemoProcwatch runs procwatch until ctx ends, logging warnings and
// errors (everything with -v).
func runDemoProcwatch(ctx context.Context, env *cliEnv, cf *connFlags, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("%w: -interval must be positive", errUsage)
	}
	level := slog.LevelWarn
	if cf.verbose {
		level = slog.LevelDebug
	}
	return procwatch.Run(ctx, procwatch.Config{
		Endpoint: cf.socket,
		Name:     cf.name,
		Interval: interval,
		Logger:   slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level})),
	})
}

func ignoreCancel(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func simulatedConnection(seq uint64) []byte {
	return []byte(fmt.Sprintf(
		`{"seq":%d,"proto":"tcp","local":"127.0.0.1:%d","remote":"127.0.0.1:443","state":"ESTABLISHED"}`,
		seq, 40000+rand.IntN(20000)))
}
