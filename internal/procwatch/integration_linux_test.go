//go:build linux

package procwatch

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/topic"
	"github.com/daemoneye/eventbus/transport"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// giveUp bounds every wait of the integration test; it is a failure
// deadline, not a synchronisation.
const giveUp = 30 * time.Second

// logWriter sends log lines to the test's log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// agent is the test's side of the bus: a broker with in-process
// subscriptions on procwatch's topics.
type agent struct {
	t         *testing.T
	b         *broker.Broker
	socket    string
	lifecycle chan *pb.ProcessEvent
	tree      chan *broker.Message
	beats     chan struct{}
}

func startAgent(t *testing.T) *agent {
	t.Helper()
	// A short path: Unix socket paths are limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "pw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	a := &agent{
		t:         t,
		socket:    filepath.Join(dir, "bus.sock"),
		lifecycle: make(chan *pb.ProcessEvent, 1<<16),
		tree:      make(chan *broker.Message, 1024),
		beats:     make(chan struct{}, 1),
	}
	a.b, err = broker.New(broker.Config{
		LocalName: "daemoneye-agent",
		Logger:    slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.Listen(a.socket, nil)
	if err != nil {
		t.Fatal(err)
	}
	go a.b.Serve(ln)
	t.Cleanup(func() { a.b.Close() })

	// Handlers run on the broker's dispatch goroutine and must not block.
	a.subscribe(topic.EventsProcessLifecycle, func(m *broker.Message) {
		ev := new(pb.ProcessEvent)
		if err := proto.Unmarshal(m.Payload, ev); err != nil {
			t.Errorf("undecodable lifecycle event: %v", err)
			return
		}
		select {
		case a.lifecycle <- ev:
		default:
			t.Errorf("lifecycle buffer full")
		}
	})
	a.subscribe(topic.EventsProcessTree, func(m *broker.Message) {
		select {
		case a.tree <- m:
		default:
			t.Errorf("tree buffer full")
		}
	})
	a.subscribe(topic.ControlHealthHeartbeat, func(m *broker.Message) {
		if m.Publisher.ClientName == DefaultName {
			select {
			case a.beats <- struct{}{}:
			default:
			}
		}
	})
	return a
}

func (a *agent) subscribe(filter string, h broker.Handler) {
	a.t.Helper()
	if _, err := a.b.Subscribe(filter, h); err != nil {
		a.t.Fatal(err)
	}
}

// runProcwatch runs procwatch in process until the test ends.
func (a *agent) runProcwatch() {
	t := a.t
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{
			Endpoint:  a.socket,
			Interval:  10 * time.Millisecond,
			Heartbeat: 20 * time.Millisecond,
			Logger:    slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	// procwatch beats once it has subscribed and made its first scan.
	select {
	case <-a.beats:
	case err := <-done:
		t.Fatalf("Run ended early: %v", err)
	case <-time.After(giveUp):
		t.Fatal("no heartbeat from procwatch")
	}
}

// awaitLifecycle returns the first lifecycle event of kind for pid.
func (a *agent) awaitLifecycle(kind pb.ProcessEvent_Kind, pid uint32) *pb.ProcessEvent {
	a.t.Helper()
	timeout := time.After(giveUp)
	for {
		select {
		case ev := <-a.lifecycle:
			if ev.Pid == pid && ev.Kind == kind {
				return ev
			}
		case <-timeout:
			a.t.Fatalf("no %v event for pid %d", kind, pid)
		}
	}
}

func (a *agent) sendTask(task *pb.CollectorTask) {
	a.t.Helper()
	b, err := proto.Marshal(task)
	if err != nil {
		a.t.Fatal(err)
	}
	if _, err := a.b.Publish(topic.ControlCollectorTaskProcess, b, nil); err != nil {
		a.t.Fatal(err)
	}
}

func (a *agent) request(name string, payload []byte) string {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), giveUp)
	defer cancel()
	m, err := a.b.Request(ctx, name, payload, nil)
	if err != nil {
		a.t.Fatalf("request on %s: %v", name, err)
	}
	return string(m.Payload)
}

// TestOverBroker runs procwatch against a real broker: it reports a child
// process's start and exit, answers a process-tree task for it, and answers
// diagnostics and unknown tasks sent as requests.
func TestOverBroker(t *testing.T) {
	a := startAgent(t)
	a.runProcwatch()

	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := uint32(cmd.Process.Pid)

	start := a.awaitLifecycle(pb.ProcessEvent_KIND_START, pid)
	if start.Ppid != uint32(os.Getpid()) || start.Name != "sleep" || start.CommandLine != "sleep 30" ||
		start.ObservedUnixNano == 0 || start.StartTimeUnixNano == 0 {
		t.Fatalf("START event: %v", start)
	}
	if u, err := user.Current(); err == nil && start.User != u.Username {
		t.Errorf("START event's user %q, want %q", start.User, u.Username)
	}

	a.sendTask(&pb.CollectorTask{
		TaskId: "task-1", CollectorKind: "process", Action: ActionProcessTree,
		Parameters: map[string]string{"pid": strconv.Itoa(int(pid))},
	})
	var chain []uint32
	for timeout := time.After(giveUp); len(chain) == 0 || chain[len(chain)-1] != 1; {
		select {
		case m := <-a.tree:
			ev := new(pb.ProcessEvent)
			if err := proto.Unmarshal(m.Payload, ev); err != nil {
				t.Fatal(err)
			}
			if got := m.Correlation.GetCorrelationId(); got != "task-1" {
				t.Fatalf("tree event with correlation id %q", got)
			}
			if ev.Kind != pb.ProcessEvent_KIND_MODIFY {
				t.Fatalf("tree event of kind %v", ev.Kind)
			}
			chain = append(chain, ev.Pid)
		case <-timeout:
			t.Fatalf("tree incomplete: %v", chain)
		}
	}
	if len(chain) < 3 || chain[0] != pid || chain[1] != uint32(os.Getpid()) {
		t.Fatalf("tree of %d: %v; want the child, this test, ..., 1", pid, chain)
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if stop := a.awaitLifecycle(pb.ProcessEvent_KIND_STOP, pid); stop.CommandLine != "sleep 30" {
		t.Fatalf("STOP event: %v", stop)
	}

	var d diagnostics
	if err := json.Unmarshal([]byte(a.request(topic.ControlHealthDiagnostics, nil)), &d); err != nil {
		t.Fatal(err)
	}
	if d.Collector != DefaultName || d.PID != os.Getpid() || d.EventsPublished < 2 || d.TrackedProcesses == 0 || d.Scans == 0 {
		t.Fatalf("diagnostics: %+v", d)
	}

	b, _ := proto.Marshal(&pb.CollectorTask{TaskId: "task-2", Action: "rescan"})
	if got := a.request(topic.ControlCollectorTaskProcess, b); got != `error: unknown action "rescan"` {
		t.Fatalf("answer to an unknown action: %q", got)
	}
	b, _ = proto.Marshal(&pb.CollectorTask{TaskId: "task-3", Action: ActionProcessTree, Parameters: map[string]string{"pid": "1"}})
	if got := a.request(topic.ControlCollectorTaskProcess, b); !strings.HasPrefix(got, "ok: 1 processes") {
		t.Fatalf("answer to a process tree of pid 1: %q", got)
	}
}
