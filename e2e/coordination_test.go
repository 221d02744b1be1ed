//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// The coordination features across real processes: queue groups, requests
// to a real collector, a broker crash and restart, a stuck subscriber and
// presence. See docs/coordination.md.

// subRow is one row of `ebctl subs`.
type subRow struct {
	session uint64
	name    string
	filter  string
}

// subRows returns the rows of `ebctl subs`.
func (b *broker) subRows(t *testing.T) []subRow {
	t.Helper()
	out, errOut, err := b.ebctl(t, "", "subs")
	if err != nil {
		t.Fatalf("ebctl subs: %v: %s", err, errOut)
	}
	var rows []subRow
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) != 5 {
			continue // the header, or a session without subscriptions
		}
		id, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			t.Fatalf("ebctl subs row %q: %v", line, err)
		}
		rows = append(rows, subRow{session: id, name: f[1], filter: f[4]})
	}
	return rows
}

// waitNewSubscriber waits until `ebctl subs` shows a session other than
// those in known with the subscription name/filter, and returns its id.
func (b *broker) waitNewSubscriber(t *testing.T, name, filter string, known ...uint64) uint64 {
	t.Helper()
	var id uint64
	eventually(t, 15*time.Second, fmt.Sprintf("a new session %s subscribed to %s", name, filter), func() bool {
	rows:
		for _, r := range b.subRows(t) {
			if r.name != name || r.filter != filter {
				continue
			}
			for _, k := range known {
				if r.session == k {
					continue rows
				}
			}
			id = r.session
			return true
		}
		return false
	})
	return id
}

// hasSession reports whether `ebctl subs` lists session id.
func (b *broker) hasSession(t *testing.T, id uint64) bool {
	t.Helper()
	for _, r := range b.subRows(t) {
		if r.session == id {
			return true
		}
	}
	return false
}

// stats returns the broker's statistics from `ebctl stats -json`.
func (b *broker) stats(t *testing.T) *pb.StatsReply {
	t.Helper()
	out, errOut, err := b.ebctl(t, "", "stats", "-json")
	if err != nil {
		t.Fatalf("ebctl stats -json: %v: %s", err, errOut)
	}
	st := &pb.StatsReply{}
	if err := protojson.Unmarshal([]byte(out), st); err != nil {
		t.Fatalf("ebctl stats -json printed %q: %v", out, err)
	}
	return st
}

// sessionOf returns the statistics of the session whose peer is pid, or nil.
func sessionOf(st *pb.StatsReply, pid int) *pb.SessionStats {
	for _, s := range st.Sessions {
		if int(s.Pid) == pid {
			return s
		}
	}
	return nil
}

// presenceTable returns `ebctl status -json`.
func (b *broker) presenceTable(t *testing.T) *pb.PresenceTable {
	t.Helper()
	out, errOut, err := b.ebctl(t, "", "status", "-json")
	if err != nil {
		t.Fatalf("ebctl status -json: %v: %s", err, errOut)
	}
	table := &pb.PresenceTable{}
	if err := protojson.Unmarshal([]byte(out), table); err != nil {
		t.Fatalf("ebctl status -json printed %q: %v", out, err)
	}
	return table
}

// decodedLine is one line of `ebctl sub -json -decode`.
type decodedLine struct {
	Topic   string          `json:"topic"`
	Decoded json.RawMessage `json:"decoded"`
}

// decodedEvents decodes the "decoded" field of every line p printed so far
// into a new M, from line from on.
func decodedEvents[M proto.Message](t *testing.T, p *proc, from int, newM func() M) []M {
	t.Helper()
	lines := p.stdout.lines()
	if from > len(lines) {
		from = len(lines)
	}
	var out []M
	for _, line := range lines[from:] {
		var l decodedLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("%s printed %q: %v", p.name, line, err)
		}
		if len(l.Decoded) == 0 {
			t.Fatalf("%s printed an event it could not decode: %q", p.name, line)
		}
		m := newM()
		if err := protojson.Unmarshal(l.Decoded, m); err != nil {
			t.Fatalf("%s: decoded %s: %v", p.name, l.Decoded, err)
		}
		out = append(out, m)
	}
	return out
}

// parseDelivered decodes `ebctl sub -json` lines and fails on any event
// announced as dropped.
func parseDelivered(t *testing.T, p *proc) []delivered {
	t.Helper()
	var out []delivered
	for i, line := range p.stdout.lines() {
		var m delivered
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%s line %d %q: %v", p.name, i, line, err)
		}
		if m.Dropped != 0 {
			t.Fatalf("%s line %d: %d events dropped before it", p.name, i, m.Dropped)
		}
		out = append(out, m)
	}
	return out
}

// numbers returns lines from..to, one number each.
func numbers(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "%d\n", i)
	}
	return b.String()
}

// checkInOrder checks that events carry the payloads 1..n, in order.
func checkInOrder(t *testing.T, who string, events []delivered, n int, payload func(int) string) {
	t.Helper()
	for i, m := range events {
		if want := payload(i + 1); m.Payload != want {
			t.Fatalf("%s: event %d is %.40q, want %.40q", who, i+1, m.Payload, want)
		}
	}
	if len(events) != n {
		t.Fatalf("%s received %d events, want %d", who, len(events), n)
	}
}

// Two members of the queue group "procmond" share the tasks round robin,
// each task reaching exactly one of them; when one is killed, the other
// takes every later task, and no task is lost or duplicated.
func TestQueueGroupSharesTasksAndFailsOver(t *testing.T) {
	const (
		half   = 5000
		filter = "control.collector.task.process"
	)
	b := startBroker(t, "-queue-messages", "20000")
	member := func(name string) *proc {
		return b.startEbctl(t, name, nil, "sub", "-json", "-group", "procmond", "-name", "procmond", filter)
	}
	a := member("member-a")
	idA := b.waitNewSubscriber(t, "procmond", filter)
	memB := member("member-b")
	idB := b.waitNewSubscriber(t, "procmond", filter, idA)

	publish := func(from, to int) {
		t.Helper()
		if _, errOut, err := b.ebctl(t, numbers(from, to), "pub", "-async", "-q", "-name", "daemoneye-agent", filter, "-"); err != nil {
			t.Fatalf("pub tasks %d..%d: %v: %s", from, to, err, errOut)
		}
	}
	// got records which member received each task, failing on a duplicate.
	got := map[int]string{}
	collect := func(p *proc) int {
		t.Helper()
		n := 0
		for _, m := range parseDelivered(t, p) {
			task, err := strconv.Atoi(m.Payload)
			if err != nil || m.Topic != filter || m.Publisher.Name != "daemoneye-agent" {
				t.Fatalf("%s got %+v", p.name, m)
			}
			if prev, dup := got[task]; dup {
				t.Fatalf("task %d delivered twice: to %s and %s", task, prev, p.name)
			}
			got[task] = p.name
			n++
		}
		return n
	}

	publish(1, half)
	eventually(t, 30*time.Second, fmt.Sprintf("the members to print %d tasks together", half), func() bool {
		return a.stdout.count()+memB.stdout.count() >= half
	})
	nA, nB := collect(a), collect(memB)
	if nA+nB != half {
		t.Fatalf("the members got %d + %d tasks, want %d in all", nA, nB, half)
	}
	for _, n := range []int{nA, nB} {
		if n < half*40/100 || n > half*60/100 {
			t.Fatalf("tasks split %d / %d: want each member to get 40-60%% of them", nA, nB)
		}
	}

	a.signal(syscall.SIGKILL)
	_ = a.wait(10 * time.Second)
	eventually(t, 10*time.Second, fmt.Sprintf("the killed member's session %d to disappear", idA), func() bool {
		return !b.hasSession(t, idA)
	})
	if !b.hasSession(t, idB) {
		t.Fatalf("the surviving member's session %d is gone", idB)
	}

	publish(half+1, 2*half)
	eventually(t, 30*time.Second, fmt.Sprintf("the surviving member to print %d tasks", nB+half), func() bool {
		return memB.stdout.count() >= nB+half
	})
	got = map[int]string{}
	if n := collect(a); n != nA {
		t.Fatalf("the killed member printed %d tasks, then %d", nA, n)
	}
	if n := collect(memB); n != nB+half {
		t.Fatalf("the surviving member has %d tasks, want %d", n, nB+half)
	}
	for task := 1; task <= 2*half; task++ {
		who, ok := got[task]
		switch {
		case !ok:
			t.Fatalf("task %d reached no member", task)
		case task > half && who != memB.name:
			t.Fatalf("task %d, published after the kill, went to %s", task, who)
		}
	}
	if len(got) != 2*half {
		t.Fatalf("%d distinct tasks delivered, want %d", len(got), 2*half)
	}
}

// A request reaches a real collector, procwatch, whose reply comes back to
// `ebctl req`; a request nobody subscribes to fails at once, and one that
// reaches only a subscriber that never answers times out.
func TestRequestReply(t *testing.T) {
	b := startBroker(t)

	// Nobody subscribes at all yet.
	_, errOut, err := b.ebctl(t, "", "req", "-name", "daemoneye-agent", "control.collector.config", "x")
	if err == nil || !strings.Contains(errOut, "no responders on control.collector.config") {
		t.Fatalf("request without subscribers: err %v, stderr %q; want a no-responders failure", err, errOut)
	}

	// A subscriber that receives the request but never answers it.
	silent := b.startEbctl(t, "silent", nil, "sub", "-name", "procmond", "control.collector.task.process")
	b.waitSubscribed(t, "procmond control.collector.task.process")
	_, errOut, err = b.ebctl(t, "", "req", "-name", "daemoneye-agent", "-timeout", "500ms", "control.collector.task.process", "ping-nobody-answers")
	if err == nil || !strings.Contains(errOut, "no reply on control.collector.task.process within 500ms") {
		t.Fatalf("unanswered request: err %v, stderr %q; want a timeout", err, errOut)
	}
	eventually(t, 10*time.Second, "the silent subscriber to print the request", func() bool {
		return strings.Contains(silent.stdout.String(), "control.collector.task.process ping-nobody-answers")
	})
	silent.signal(syscall.SIGTERM)
	if err := silent.wait(10 * time.Second); err != nil {
		t.Fatalf("silent subscriber: %v", err)
	}

	// A real collector answers diagnostics requests.
	pw := start(t, "procwatch", nil, bin.procwatch, "-socket", b.socket, "-name", "procmond")
	b.waitSubscribed(t, "procmond control.health.diagnostics", "procmond control.collector.task.process")
	out, errOut, err := b.ebctl(t, "", "req", "-name", "daemoneye-agent", "control.health.diagnostics")
	if err != nil {
		t.Fatalf("diagnostics request: %v: %s", err, errOut)
	}
	var diag struct {
		Collector string `json:"collector"`
		PID       int    `json:"pid"`
		Tracked   *int64 `json:"tracked_processes"`
	}
	if err := json.Unmarshal([]byte(out), &diag); err != nil {
		t.Fatalf("diagnostics reply %q: %v", out, err)
	}
	if diag.Collector != "procmond" || diag.PID != pw.cmd.Process.Pid || diag.Tracked == nil {
		t.Fatalf("diagnostics reply %q: want procwatch's (pid %d) with tracked_processes", out, pw.cmd.Process.Pid)
	}

	// procwatch answers a task request too, even an undecodable one: the
	// reply is its own, not a timeout.
	out, errOut, err = b.ebctl(t, "", "req", "-name", "daemoneye-agent", "control.collector.task.process", "x")
	if err != nil || !strings.HasPrefix(out, "error: undecodable task") {
		t.Fatalf("task request: err %v, stdout %q, stderr %q; want procwatch's refusal", err, out, errOut)
	}
}

// A broker crash and restart on the same socket: the subscriber and the
// publisher reconnect by themselves, the lines published while the broker
// was down wait in the publisher's buffer, and every line arrives once, in
// order.
func TestBrokerRestartWithoutLoss(t *testing.T) {
	const lifecycle = "events.process.lifecycle"
	first := startBroker(t)
	socket := first.socket
	sub := first.startEbctl(t, "subscriber", nil, "sub", "-json", "-name", "daemoneye-agent", "events.process.#")
	first.waitSubscribed(t, "daemoneye-agent events.process.#")

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	pub := first.startEbctl(t, "publisher", r, "pub", "-async", "-q", "-name", "procmond", lifecycle, "-")
	r.Close() // the publisher has its own copy
	write := func(from, to int) {
		t.Helper()
		if _, err := w.WriteString(numbers(from, to)); err != nil {
			t.Fatalf("writing lines %d..%d to the publisher: %v", from, to, err)
		}
	}

	write(1, 100)
	eventually(t, 15*time.Second, "the subscriber to print 100 lines", func() bool { return sub.stdout.count() >= 100 })

	first.signal(syscall.SIGKILL) // a crash: the socket file stays behind
	_ = first.wait(10 * time.Second)
	eventually(t, 10*time.Second, "the publisher to notice the lost connection", func() bool {
		return strings.Contains(pub.stderr.String(), "ebctl: connection lost")
	})

	write(101, 600)
	fd := int(w.Fd())
	eventually(t, 15*time.Second, "the publisher to read every line written while the broker is down", func() bool {
		n, err := unix.IoctlGetInt(fd, unix.TIOCINQ) // FIONREAD: unread bytes in the pipe
		if err != nil {
			t.Fatalf("FIONREAD: %v", err)
		}
		return n == 0
	})
	// Stopped, the publisher cannot reconnect and flush before the
	// subscriber is back on the new broker.
	pub.signal(syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			_ = pub.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()

	second := startBrokerOn(t, socket)
	second.waitSubscribed(t, "daemoneye-agent events.process.#")
	pub.signal(syscall.SIGCONT)
	stopped = false

	write(601, 700)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pub.wait(30 * time.Second); err != nil {
		t.Fatalf("publisher: %v", err)
	}
	eventually(t, 30*time.Second, "the subscriber to print 700 lines", func() bool { return sub.stdout.count() >= 700 })
	events := parseDelivered(t, sub)
	checkInOrder(t, "subscriber", events, 700, strconv.Itoa)
	for _, m := range events {
		if m.Topic != lifecycle || m.Publisher.Name != "procmond" {
			t.Fatalf("subscriber got %+v", m)
		}
	}
	for _, p := range []*proc{sub, pub} {
		errOut := p.stderr.String()
		if !strings.Contains(errOut, "ebctl: connection lost (") || !strings.Contains(errOut, "; reconnecting") ||
			!strings.Contains(errOut, "ebctl: reconnected") {
			t.Fatalf("%s's stderr does not tell the lost connection and the reconnection:\n%s", p.name, errOut)
		}
	}
}

// A subscriber that stops reading costs only itself: it loses events and,
// still dropping after the slow-consumer timeout, is disconnected, while a
// healthy subscriber of the same events gets every one, in order.
func TestStuckSubscriberIsolated(t *testing.T) {
	const (
		total     = 20000
		queued    = 64 // -queue-messages
		batch     = 48
		lifecycle = "events.process.lifecycle"
		filter    = "events.process.#"
	)
	b := startBroker(t, "-queue-messages", strconv.Itoa(queued), "-slow-consumer-timeout", "2s")
	watcher := b.startEbctl(t, "sys-watcher", nil, "sub", "-json", "-decode", "-name", "daemoneye-agent", "$SYS.session.#")
	b.waitSubscribed(t, "daemoneye-agent $SYS.session.#")
	healthy := b.startEbctl(t, "healthy", nil, "sub", "-json", "-name", "daemoneye-agent", filter)
	healthyID := b.waitNewSubscriber(t, "daemoneye-agent", filter)
	stuck := b.startEbctl(t, "stuck", nil, "sub", "-json", "-name", "daemoneye-agent", filter)
	stuckID := b.waitNewSubscriber(t, "daemoneye-agent", filter, healthyID)
	stuck.signal(syscall.SIGSTOP)

	payload := func(i int) string { return fmt.Sprintf("%07d:%s", i, strings.Repeat("x", 192)) }
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	pub := b.startEbctl(t, "publisher", r, "pub", "-async", "-q", "-name", "procmond", lifecycle, "-")
	r.Close()

	// sysEvent finds the watcher's session event of kind for session id.
	sysEvent := func(kind pb.SessionEvent_Kind, id uint64) *pb.SessionEvent {
		for _, ev := range decodedEvents(t, watcher, 0, func() *pb.SessionEvent { return &pb.SessionEvent{} }) {
			if ev.Kind == kind && ev.SessionId == id {
				return ev
			}
		}
		return nil
	}
	// The broker never holds a publisher back for its receivers: a burst
	// of more events than a receiver's queue holds (64 here) can be
	// routed before the broker's writer for even a healthy, idle
	// subscriber drains that queue, and some of the burst is dropped for
	// it (80 at once are, on 2 cores). So the lines are written in
	// batches, each when the healthy subscriber has printed all but a few
	// lines (those its output buffer may hold back) of the previous ones:
	// at most 64 events are ever queued for it. The stuck subscriber,
	// which reads nothing, overflows within a few batches.
	written := 0
	writeBatch := func() {
		t.Helper()
		healthy.stdout.waitCount(t, 30*time.Second, "the healthy subscriber to keep up", func(printed int) bool {
			return written-printed <= queued-batch
		})
		var s strings.Builder
		for i := written + 1; i <= written+batch; i++ {
			s.WriteString(payload(i))
			s.WriteByte('\n')
		}
		if _, err := w.WriteString(s.String()); err != nil {
			t.Fatalf("writing to the publisher: %v", err)
		}
		written += batch
	}
	for written < total {
		writeBatch()
	}
	// While it is connected, the broker counts the stuck session's drops;
	// once it is disconnected, its $SYS event below says how many.
	if s := sessionOf(b.stats(t), stuck.cmd.Process.Pid); s != nil && s.SessionId == stuckID {
		if s.Dropped == 0 || s.Delivered >= uint64(written) {
			t.Fatalf("stuck session statistics %v: want events dropped after %d published", s, written)
		}
	}
	// The stuck session is disconnected on a drop after it has been
	// dropping for 2s: go on publishing, for a bounded time, until then.
	deadline := time.Now().Add(30 * time.Second)
	var disconnected *pb.SessionEvent
	for {
		if disconnected = sysEvent(pb.SessionEvent_KIND_DISCONNECTED, stuckID); disconnected != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stuck session %d was not disconnected after %d events", stuckID, written)
		}
		writeBatch()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pub.wait(30 * time.Second); err != nil {
		t.Fatalf("publisher: %v", err)
	}
	eventually(t, 30*time.Second, fmt.Sprintf("the healthy subscriber to print %d lines", written), func() bool {
		return healthy.stdout.count() >= written
	})

	events := parseDelivered(t, healthy) // fails on any dropped_before
	checkInOrder(t, "healthy subscriber", events, written, payload)

	if disconnected.Reason != "slow_consumer" || disconnected.Dropped == 0 || disconnected.ClientName != "daemoneye-agent" {
		t.Fatalf("the stuck session's end: %v; want reason slow_consumer with events dropped", disconnected)
	}
	if slow := sysEvent(pb.SessionEvent_KIND_SLOW_CONSUMER, stuckID); slow == nil || slow.Reason != "slow_consumer" {
		t.Fatalf("no $SYS.session.slow event for the stuck session %d (got %v)", stuckID, slow)
	}
	for _, kind := range []pb.SessionEvent_Kind{pb.SessionEvent_KIND_SLOW_CONSUMER, pb.SessionEvent_KIND_DISCONNECTED} {
		if ev := sysEvent(kind, healthyID); ev != nil {
			t.Fatalf("the healthy session got %v", ev)
		}
	}

	st := b.stats(t)
	if s := sessionOf(st, stuck.cmd.Process.Pid); s != nil && s.SessionId == stuckID {
		t.Fatalf("the stuck session is still connected: %v", s)
	}
	h := sessionOf(st, healthy.cmd.Process.Pid)
	if h == nil || h.SessionId != healthyID || h.Dropped != 0 || h.Delivered < uint64(written) {
		t.Fatalf("healthy session statistics %v: want session %d, nothing dropped, %d delivered", h, healthyID, written)
	}
	if st.Broker.GetDropped() < disconnected.Dropped {
		t.Fatalf("the broker counts %d drops, the stuck session alone had %d", st.Broker.GetDropped(), disconnected.Dropped)
	}
	if !b.hasSession(t, healthyID) {
		t.Fatalf("the healthy session %d lost its subscription", healthyID)
	}
}

// The presence tracker in eventbusd follows a real collector: ALIVE on its
// first heartbeat, LOST when it stops beating (SIGSTOP), ALIVE again when
// it resumes, DISCONNECTED when it dies, each change published on
// control.health.status and shown by `ebctl status`.
func TestPresence(t *testing.T) {
	b := startBroker(t, "-presence-missed-beats", "3")
	watcher := b.startEbctl(t, "status-watcher", nil, "sub", "-json", "-decode", "-name", "daemoneye-agent", "control.health.status")
	b.waitSubscribed(t, "daemoneye-agent control.health.status")

	pw := start(t, "procwatch", nil, bin.procwatch, "-socket", b.socket, "-name", "procmond", "-heartbeat", "200ms")

	// after waits for the first status change of procmond to state want
	// printed by the watcher at or after line from, and returns it and
	// the line after it. Changes of the status word alone (ALIVE -> ALIVE)
	// and other states are passed over: a loaded machine may delay a beat.
	after := func(from int, what string, want pb.CollectorStatus_State) (*pb.CollectorStatus, int) {
		t.Helper()
		var got *pb.CollectorStatus
		next := from
		eventually(t, 20*time.Second, what, func() bool {
			for i, ev := range decodedEvents(t, watcher, from, func() *pb.CollectorStatus { return &pb.CollectorStatus{} }) {
				if ev.Collector == "procmond" && ev.State == want {
					got, next = ev, from+i+1
					return true
				}
			}
			return false
		})
		return got, next
	}
	// showsState waits until `ebctl status -json` shows procmond in state.
	showsState := func(want pb.CollectorStatus_State, session uint64) {
		t.Helper()
		eventually(t, 10*time.Second, "ebctl status to show procmond "+want.String(), func() bool {
			for _, c := range b.presenceTable(t).Collectors {
				if c.Collector == "procmond" && c.State == want && c.SessionId == session {
					return true
				}
			}
			return false
		})
	}

	alive, _ := after(0, "procmond ALIVE", pb.CollectorStatus_STATE_ALIVE)
	if alive.Reason != "first heartbeat" || alive.SessionId == 0 || alive.InstanceId == "" {
		t.Fatalf("first status %v: want ALIVE for its first heartbeat, with its session and instance", alive)
	}
	session := alive.SessionId
	showsState(pb.CollectorStatus_STATE_ALIVE, session)

	// (a) A hung collector: its connection stays open, its beats stop.
	mark := watcher.stdout.count()
	pw.signal(syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			_ = pw.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	lost, mark := after(mark, "procmond LOST after missed beats", pb.CollectorStatus_STATE_LOST)
	if !strings.Contains(lost.Reason, "missed 3 beats") || lost.Previous != pb.CollectorStatus_STATE_ALIVE ||
		lost.SessionId != session || lost.InstanceId != alive.InstanceId {
		t.Fatalf("lost status %v: want ALIVE -> LOST for missed beats, same session and instance", lost)
	}
	showsState(pb.CollectorStatus_STATE_LOST, session)

	pw.signal(syscall.SIGCONT)
	stopped = false
	back, _ := after(mark, "procmond ALIVE again", pb.CollectorStatus_STATE_ALIVE)
	if back.Reason != "heartbeat resumed" || back.Previous != pb.CollectorStatus_STATE_LOST || back.SessionId != session {
		t.Fatalf("resumed status %v: want LOST -> ALIVE, heartbeat resumed, same session", back)
	}
	showsState(pb.CollectorStatus_STATE_ALIVE, session)

	// (b) A crash: the connection ends, which the tracker learns from the
	// broker's session event without waiting for a deadline.
	mark = watcher.stdout.count()
	pw.signal(syscall.SIGKILL)
	_ = pw.wait(10 * time.Second)
	gone, _ := after(mark, "procmond DISCONNECTED", pb.CollectorStatus_STATE_DISCONNECTED)
	// The reason is the broker's session event, not a missed deadline.
	if gone.Reason != "connection ended: closed" || gone.SessionId != session ||
		gone.Previous != pb.CollectorStatus_STATE_ALIVE && gone.Previous != pb.CollectorStatus_STATE_LOST {
		t.Fatalf("disconnected status %v: want DISCONNECTED for session %d, connection ended: closed", gone, session)
	}
	showsState(pb.CollectorStatus_STATE_DISCONNECTED, session)
}
