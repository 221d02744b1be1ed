package procwatch

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/client"
	"github.com/daemoneye/eventbus/procfs"
	"github.com/daemoneye/eventbus/topic"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// ActionProcessTree is the task action that asks for a process's ancestry.
const ActionProcessTree = "process_tree"

// taskPublishTimeout bounds the publishes of one task's answer, so that a
// stalled broker connection cannot hold the client's handler goroutine.
const taskPublishTimeout = 5 * time.Second

// onTask handles a delivery on control.collector.task.process. It runs as
// a client handler: one at a time with the client's other handlers.
func (w *watcher) onTask(m *client.Message) {
	var task pb.CollectorTask
	if err := proto.Unmarshal(m.Payload, &task); err != nil {
		w.log.Warn("undecodable task", "publisher", m.Publisher.ClientName, "err", err)
		// The decoder's text is logged, not sent: it is the library's wording
		// (which varies on purpose) and of no use to the requester.
		w.answer(m, "error: undecodable task: not a CollectorTask message")
		return
	}
	log := w.log.With("task", task.TaskId, "action", task.Action)
	n, err := w.runTask(&task)
	if err != nil {
		log.Warn("task not done", "err", err)
		w.answer(m, "error: "+err.Error())
		return
	}
	log.Debug("task done", "published", n)
	w.answer(m, fmt.Sprintf("ok: %d processes published on %s", n, topic.EventsProcessTree))
}

// runTask carries out a task and returns how many events it published.
func (w *watcher) runTask(task *pb.CollectorTask) (int, error) {
	if k := task.CollectorKind; k != "" && k != "process" {
		return 0, fmt.Errorf("task for the %q collector", k)
	}
	if d := task.DeadlineUnixNano; d != 0 && time.Now().UnixNano() > d {
		return 0, fmt.Errorf("task %q expired at %v", task.TaskId, time.Unix(0, d).UTC())
	}
	switch task.Action {
	case ActionProcessTree:
		return w.processTree(task)
	default:
		return 0, fmt.Errorf("unknown action %q", task.Action)
	}
}

// processTree publishes the process the task names and its ancestors.
func (w *watcher) processTree(task *pb.CollectorTask) (int, error) {
	p, ok := task.Parameters["pid"]
	if !ok {
		return 0, fmt.Errorf("%s needs the parameter pid", ActionProcessTree)
	}
	pid, err := strconv.ParseUint(p, 10, 32)
	if err != nil || pid == 0 {
		return 0, fmt.Errorf("pid %q is not a process id", p)
	}
	evs, err := processTree(w.src, w.users, uint32(pid), time.Now())
	if err != nil {
		if procfs.Vanished(err) {
			return 0, fmt.Errorf("no process %d", pid)
		}
		return 0, fmt.Errorf("reading process %d: %w", pid, err)
	}
	ctx, cancel := context.WithTimeout(w.ctx, taskPublishTimeout)
	defer cancel()
	for i, ev := range evs {
		corr := &pb.Correlation{CorrelationId: task.TaskId, Sequence: uint64(i + 1), WorkflowStage: ActionProcessTree}
		if !w.publish(ctx, topic.EventsProcessTree, ev, client.WithCorrelation(corr)) {
			return i, fmt.Errorf("published %d of %d processes: the broker connection is failing", i, len(evs))
		}
	}
	return len(evs), nil
}

// answer responds to m when it is a request.
func (w *watcher) answer(m *client.Message, text string) {
	if m.ReplyTo() == "" {
		return
	}
	if err := m.Respond([]byte(text)); err != nil {
		w.log.Debug("cannot answer a request", "topic", m.Topic, "err", err)
	}
}

// diagnostics is the answer to a diagnostics request.
type diagnostics struct {
	Collector          string `json:"collector"`
	PID                int    `json:"pid"`
	Started            string `json:"started"`
	Uptime             string `json:"uptime"`
	Interval           string `json:"interval"`
	TrackedProcesses   int64  `json:"tracked_processes"`
	UntrackedProcesses int64  `json:"untracked_processes"`
	EventsPublished    uint64 `json:"events_published"`
	PublishFailures    uint64 `json:"publish_failures"`
	Scans              uint64 `json:"scans"`
	LastScanDuration   string `json:"last_scan_duration"`
	LastScanError      string `json:"last_scan_error,omitempty"`
}

func (w *watcher) diagnostics() diagnostics {
	d := diagnostics{
		Collector:          w.cfg.Name,
		PID:                os.Getpid(),
		Started:            w.st.started.UTC().Format(time.RFC3339Nano),
		Uptime:             time.Since(w.st.started).Round(time.Millisecond).String(),
		Interval:           w.cfg.Interval.String(),
		TrackedProcesses:   w.st.tracked.Load(),
		UntrackedProcesses: w.st.untracked.Load(),
		EventsPublished:    w.st.published.Load(),
		PublishFailures:    w.st.publishFailed.Load(),
		Scans:              w.st.scans.Load(),
		LastScanDuration:   time.Duration(w.st.lastScan.Load()).String(),
	}
	if msg := w.st.lastScanError.Load(); msg != nil {
		d.LastScanError = *msg
	}
	return d
}

// onDiagnostics answers a diagnostics request; other deliveries on the
// topic (the agent's own notes) need no answer.
func (w *watcher) onDiagnostics(m *client.Message) {
	if m.ReplyTo() == "" {
		return
	}
	b, err := json.Marshal(w.diagnostics())
	if err != nil {
		w.log.Error("cannot encode diagnostics", "err", err)
		return
	}
	if err := m.Respond(b); err != nil {
		w.log.Debug("cannot answer a diagnostics request", "err", err)
	}
}
