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
	"github.com/daemoneye/eventbus/topic"
	"github.com/daemoneye/eventbus/transport"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// The demo's cast: the agent subscribes with wildcards, two collectors publish.
var demoCollectors = []struct{ kind, name string }{
	{"process", "procmond"},
	{"network", "netmond"},
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
		"events.+.lifecycle", "events.network.#", "events.process.tree", "control.health.heartbeat")
	if err != nil {
		return err
	}
	procs = append(procs, agent)
	if err := waitFor(ctx, 10*time.Second, func() bool { return b.Stats().Subscriptions >= 4 }); err != nil {
		return fmt.Errorf("demo subscriber did not subscribe: %w", err)
	}
	for _, c := range demoCollectors {
		p, err := startDemoProc(exe, "["+c.name+"] ", out, env.stderr,
			"demo-collector", "-socket", socket, "-kind", c.kind, "-name", c.name, "-rate", strconv.Itoa(*rate))
		if err != nil {
			return err
		}
		procs = append(procs, p)
		fmt.Fprintf(env.stdout, "demo: started %s (pid %d)\n", c.name, p.cmd.Process.Pid)
	}

	// The agent hosts the broker, so it sends tasks in process.
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	deadline := time.After(*duration)
	for seq := 1; ; seq++ {
		select {
		case <-ctx.Done():
			return demoSummary(env.stdout, b)
		case <-deadline:
			stopAll(procs, env.stderr)
			procs = nil
			return demoSummary(env.stdout, b)
		case <-ticker.C:
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

// runDemoCollector is a simulated collector: it publishes events of its
// kind at a fixed rate, heartbeats every second, and answers process-tree
// tasks. The real process monitor is cmd/procwatch.
func runDemoCollector(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet("demo-collector", "", env.stderr)
	var cf connFlags
	cf.bind(fs, operatorName)
	kind := fs.String("kind", "process", "process or network")
	rate := fs.Int("rate", 4, "events per second")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	if *rate <= 0 {
		return fmt.Errorf("%w: -rate must be positive", errUsage)
	}
	c, err := cf.dial(ctx, env.stderr, func(err error) { fmt.Fprintln(env.stderr, "demo-collector:", err) })
	if err != nil {
		return err
	}
	defer c.Close()
	if *kind == "process" {
		if _, err := c.Subscribe(topic.CollectorTaskTopic("process"), func(m *client.Message) {
			answerTask(ctx, c, m)
		}); err != nil {
			return err
		}
	}
	events := time.NewTicker(time.Second / time.Duration(*rate))
	defer events.Stop()
	beats := time.NewTicker(time.Second)
	defer beats.Stop()
	for seq := uint64(1); ; {
		select {
		case <-ctx.Done():
			return nil
		case <-c.Done():
			return c.Err()
		case <-beats.C:
			if err := c.Publish(ctx, topic.ControlHealthHeartbeat, []byte(fmt.Sprintf(`{"collector":%q,"pid":%d}`, cf.name, os.Getpid()))); err != nil {
				return ignoreCancel(err)
			}
		case <-events.C:
			name, payload := simulatedEvent(*kind, seq)
			if err := c.Publish(ctx, name, payload, client.WithCorrelation(&pb.Correlation{Sequence: seq})); err != nil {
				return ignoreCancel(err)
			}
			seq++
		}
	}
}

func ignoreCancel(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

var demoProcessNames = []string{"sshd", "bash", "curl", "python3", "systemd-resolve", "cron"}

func simulatedEvent(kind string, seq uint64) (string, []byte) {
	if kind == "network" {
		return "events.network.connections", []byte(fmt.Sprintf(
			`{"seq":%d,"proto":"tcp","local":"127.0.0.1:%d","remote":"127.0.0.1:443","state":"ESTABLISHED"}`,
			seq, 40000+rand.IntN(20000)))
	}
	pid := 1000 + rand.IntN(30000)
	ev := &pb.ProcessEvent{
		Kind:              pb.ProcessEvent_KIND_START,
		Pid:               uint32(pid),
		Ppid:              1,
		Name:              demoProcessNames[rand.IntN(len(demoProcessNames))],
		User:              "root",
		StartTimeUnixNano: time.Now().UnixNano(),
		ObservedUnixNano:  time.Now().UnixNano(),
		ExecutablePath:    "/usr/bin/simulated",
		CommandLine:       "simulated --seq " + strconv.FormatUint(seq, 10),
	}
	if seq%3 == 0 {
		ev.Kind = pb.ProcessEvent_KIND_STOP
	}
	b, _ := proto.Marshal(ev)
	return topic.EventsProcessLifecycle, b
}

// answerTask publishes a (simulated) answer to a process-tree task.
func answerTask(ctx context.Context, c *client.Client, m *client.Message) {
	var task pb.CollectorTask
	if err := proto.Unmarshal(m.Payload, &task); err != nil {
		return
	}
	pid, _ := strconv.Atoi(task.Parameters["pid"])
	tree, _ := proto.Marshal(&pb.ProcessEvent{Kind: pb.ProcessEvent_KIND_MODIFY, Pid: uint32(pid), Ppid: 1, Name: "tree-of-" + task.TaskId})
	_ = c.Publish(ctx, topic.EventsProcessTree, tree, client.WithCorrelation(&pb.Correlation{CorrelationId: task.TaskId}))
}
