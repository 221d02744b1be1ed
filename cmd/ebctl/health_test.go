package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/client"
	"github.com/daemoneye/eventbus/presence"
	"github.com/daemoneye/eventbus/topic"
	"github.com/daemoneye/eventbus/transport"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

const waitTimeout = 10 * time.Second

var quiet = slog.New(slog.DiscardHandler)

// testBus is a broker with the built-in policy on a fresh socket, hosted
// by "daemoneye-agent" like the real agent.
type testBus struct {
	*broker.Broker
	sock string
}

func startBus(t *testing.T, withPresence bool) *testBus {
	t.Helper()
	dir, err := os.MkdirTemp("", "eb-") // t.TempDir can be too long for a socket path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b, err := broker.New(broker.Config{LocalName: "daemoneye-agent", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "bus.sock")
	ln, err := transport.Listen(sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	go b.Serve(ln)
	t.Cleanup(func() { b.Close() })
	if withPresence {
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan error, 1)
		go func() { ran <- presence.Run(ctx, presence.OnBroker(b), presence.Config{Logger: quiet}) }()
		t.Cleanup(func() {
			cancel()
			<-ran
		})
	}
	return &testBus{Broker: b, sock: sock}
}

// ebctl runs an ebctl command against the bus and returns its output.
func (tb *testBus) ebctl(args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	env := &cliEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut}
	err = dispatch(ctx, env, append([]string{args[0], "-socket", tb.sock}, args[1:]...))
	return out.String(), errOut.String(), err
}

func (tb *testBus) dial(t *testing.T, name string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{Endpoint: tb.sock, Name: name, InstanceID: name + "-1", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// eventually polls cond until it holds or the wait times out.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStatus(t *testing.T) {
	tb := startBus(t, true)
	procmond := tb.dial(t, "procmond")
	stop := procmond.StartHeartbeat(time.Hour, func() (string, map[string]string) { return "scanning", nil })
	defer stop()

	var out string
	eventually(t, "procmond in ebctl status", func() bool {
		var err error
		out, _, err = tb.ebctl("status")
		if err != nil && !errors.Is(err, errNoTracker) {
			t.Fatal(err)
		}
		return strings.Contains(out, "procmond")
	})
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("status output:\n%s", out)
	}
	for _, col := range []string{"COLLECTOR", "INSTANCE", "STATE", "LAST-SEEN", "BEATS", "STATUS", "REASON"} {
		if !strings.Contains(lines[0], col) {
			t.Errorf("header lacks %s: %q", col, lines[0])
		}
	}
	if f := strings.Fields(lines[1]); len(f) < 7 || f[0] != "procmond" || f[1] != "procmond-1" || f[2] != "alive" ||
		!strings.Contains(lines[1], "scanning") || !strings.HasSuffix(lines[1], "first heartbeat") {
		t.Fatalf("status row %q", lines[1])
	}

	out, _, err := tb.ebctl("status", "-json")
	if err != nil {
		t.Fatal(err)
	}
	table := &pb.PresenceTable{}
	if err := protojson.Unmarshal([]byte(out), table); err != nil {
		t.Fatalf("status -json: %v\n%s", err, out)
	}
	if len(table.Collectors) != 1 || table.Collectors[0].State != pb.CollectorStatus_STATE_ALIVE ||
		table.Collectors[0].SessionId != procmond.SessionID() {
		t.Fatalf("status -json: %v", table)
	}
}

func TestStatusWithoutTracker(t *testing.T) {
	tb := startBus(t, false)
	_, _, err := tb.ebctl("status")
	if !errors.Is(err, errNoTracker) || !strings.Contains(oneLine(err), "no presence tracker is running") {
		t.Fatalf("err %v", err)
	}
}

func TestStats(t *testing.T) {
	tb := startBus(t, false)
	procmond := tb.dial(t, "procmond")
	if _, err := procmond.PublishConfirmed(context.Background(), topic.EventsProcessLifecycle, []byte("x")); err != nil {
		t.Fatal(err)
	}
	out, _, err := tb.ebctl("stats")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"broker: up ", "events: 1 published", "ID", "DELIVERED", "QUEUED", "SUBS",
		"procmond-1", "TOPIC", topic.EventsProcessLifecycle} {
		if !strings.Contains(out, want) {
			t.Errorf("stats output lacks %q:\n%s", want, out)
		}
	}

	out, _, err = tb.ebctl("stats", "-json")
	if err != nil {
		t.Fatal(err)
	}
	st := &pb.StatsReply{}
	if err := protojson.Unmarshal([]byte(out), st); err != nil {
		t.Fatalf("stats -json: %v\n%s", err, out)
	}
	found := false
	for _, s := range st.Sessions {
		found = found || s.ClientName == "procmond" && s.Published == 1
	}
	if !found || st.Broker.GetPublished() != 1 {
		t.Fatalf("stats -json: %v", st)
	}
}

func TestReq(t *testing.T) {
	tb := startBus(t, false)
	// The agent answers configuration requests in process; it also takes
	// diagnostics requests and never answers them.
	if _, err := tb.Subscribe(topic.ControlCollectorConfig, func(m *broker.Message) {
		m.Respond(append([]byte("pong: "), m.Payload...), nil)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Subscribe(topic.ControlHealthDiagnostics, func(*broker.Message) {}); err != nil {
		t.Fatal(err)
	}

	out, _, err := tb.ebctl("req", "-name", "daemoneye-agent", topic.ControlCollectorConfig, "hello")
	if err != nil || out != "pong: hello\n" {
		t.Fatalf("req: %q, %v", out, err)
	}
	_, _, err = tb.ebctl("req", "-name", "daemoneye-agent", topic.ControlCollectorLifecycle)
	if err == nil || !strings.Contains(err.Error(), "no responders on "+topic.ControlCollectorLifecycle) {
		t.Fatalf("req without responders: %v", err)
	}
	_, _, err = tb.ebctl("req", "-name", "daemoneye-agent", "-timeout", "50ms", topic.ControlHealthDiagnostics)
	if err == nil || !strings.Contains(err.Error(), "no reply on "+topic.ControlHealthDiagnostics+" within 50ms") {
		t.Fatalf("req without a reply: %v", err)
	}
	// ebctl's own principal may publish nothing.
	_, _, err = tb.ebctl("req", topic.ControlCollectorConfig, "hello")
	if err == nil || !strings.Contains(err.Error(), "-name") {
		t.Fatalf("req as ebctl: %v", err)
	}
	if _, _, err := tb.ebctl("req"); !errors.Is(err, errUsage) {
		t.Fatalf("req without a topic: %v", err)
	}
}

func TestSubGroup(t *testing.T) {
	tb := startBus(t, false)
	const group = "workers"
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], _, errs[i] = tb.ebctl("sub", "-group", group, "-count", "1", topic.ControlCollectorTaskProcess)
		}()
	}
	eventually(t, "two queue group members", func() bool {
		n := 0
		for _, s := range tb.subscriptionList(t) {
			for _, sub := range s.Subscriptions {
				if sub.QueueGroup == group && sub.Filter == topic.ControlCollectorTaskProcess {
					n++
				}
			}
		}
		return n == 2
	})
	// Each task goes to one member; once both have had one, both exit.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for seq := 0; ; seq++ {
		select {
		case <-done:
			for i := range outs {
				if errs[i] != nil || !strings.HasPrefix(outs[i], topic.ControlCollectorTaskProcess+" task-") {
					t.Fatalf("member %d: %q, %v", i, outs[i], errs[i])
				}
			}
			if outs[0] == outs[1] {
				t.Fatalf("both members got the same task: %q", outs[0])
			}
			return
		case <-time.After(5 * time.Millisecond):
			if seq > int(waitTimeout/(5*time.Millisecond)) {
				t.Fatal("the group members did not get a task each")
			}
			if _, err := tb.Publish(topic.ControlCollectorTaskProcess, []byte("task-"+strconv.Itoa(seq)), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func (tb *testBus) subscriptionList(t *testing.T) []*pb.SessionSubscriptions {
	t.Helper()
	admin := tb.dial(t, "daemoneye-agent")
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	list, err := admin.ListSubscriptions(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func TestDecodeHealthPayloads(t *testing.T) {
	enc := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		topic   string
		payload []byte
		want    string
	}{
		{topic.ControlHealthHeartbeat, enc(&pb.Heartbeat{Collector: "procmond", IntervalMs: 1000}), `"interval_ms":1000`},
		{topic.ControlHealthStatus, enc(&pb.CollectorStatus{Collector: "procmond", State: pb.CollectorStatus_STATE_LOST}), `"state":"STATE_LOST"`},
		{topic.ControlHealthPresence, enc(&pb.PresenceTable{Collectors: []*pb.CollectorStatus{{Collector: "netmond"}}}), `"collectors":[{"collector":"netmond"}]`},
		{topic.SysSessionDisconnected, enc(&pb.SessionEvent{Kind: pb.SessionEvent_KIND_DISCONNECTED, Reason: "closed"}), `"reason":"closed"`},
		{topic.SysSessionConnected, enc(&pb.SessionEvent{Kind: pb.SessionEvent_KIND_CONNECTED}), `"kind":"KIND_CONNECTED"`},
		{topic.SysBrokerStats, enc(&pb.BrokerStats{Sessions: 3}), `"sessions":3`},
	}
	for _, tc := range cases {
		got, ok := decodePayload(tc.topic, tc.payload)
		if !ok || !strings.Contains(got, tc.want) || strings.Contains(got, "\n") {
			t.Errorf("%s: %q, %v; want one line with %s", tc.topic, got, ok, tc.want)
		}
	}
	if _, ok := decodePayload("$SYS.other", enc(&pb.BrokerStats{Sessions: 3})); ok {
		t.Error("decoded an unknown $SYS topic")
	}
}

func TestHumanFormats(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{now.Add(-300 * time.Millisecond), "just now"},
		{now.Add(-42 * time.Second), "42s ago"},
		{now.Add(-(3*time.Minute + 5*time.Second)), "3m05s ago"},
		{now.Add(-(2*time.Hour + 10*time.Minute)), "2h10m ago"},
		{now.Add(-(76 * time.Hour)), "3d04h ago"},
	} {
		if got := ago(now, tc.at.UnixNano()); got != tc.want {
			t.Errorf("ago(%v) = %q, want %q", now.Sub(tc.at), got, tc.want)
		}
	}
	if got := ago(now, 0); got != "-" {
		t.Errorf("ago(never) = %q", got)
	}
	for n, want := range map[uint64]string{0: "0B", 1023: "1023B", 1536: "1.5K", 12 << 20: "12.0M"} {
		if got := bytesSize(n); got != want {
			t.Errorf("bytesSize(%d) = %q, want %q", n, got, want)
		}
	}
}
