package presence_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

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

// startBroker serves a broker with the built-in policy on a fresh socket
// and runs a presence service on it in process, until the test ends.
func startBroker(t *testing.T, cfg presence.Config) (*broker.Broker, string) {
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
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	cfg.Logger = quiet
	go func() { ran <- presence.Run(ctx, presence.OnBroker(b), cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("presence.Run: %v", err)
		}
		b.Close()
	})
	// The presence subscription is the service's last: once it answers,
	// the service hears heartbeats and session ends too.
	deadline := time.Now().Add(waitTimeout)
	for {
		_, err := presenceTable(b)
		if err == nil {
			break
		}
		if !errors.Is(err, broker.ErrNoResponders) || time.Now().After(deadline) {
			t.Fatalf("presence request: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	return b, sock
}

func presenceTable(b *broker.Broker) ([]*pb.CollectorStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	m, err := b.Request(ctx, topic.ControlHealthPresence, nil, nil)
	if err != nil {
		return nil, err
	}
	table := &pb.PresenceTable{}
	if err := proto.Unmarshal(m.Payload, table); err != nil {
		return nil, err
	}
	return table.Collectors, nil
}

// watchStatus collects the statuses published on control.health.status.
func watchStatus(t *testing.T, b *broker.Broker) <-chan *pb.CollectorStatus {
	t.Helper()
	ch := make(chan *pb.CollectorStatus, 64)
	sub, err := b.Subscribe(topic.ControlHealthStatus, func(m *broker.Message) {
		s := &pb.CollectorStatus{}
		if err := proto.Unmarshal(m.Payload, s); err != nil {
			t.Errorf("undecodable status: %v", err)
			return
		}
		ch <- s
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Unsubscribe)
	return ch
}

// next waits for the next status of collector and checks its state and reason.
func next(t *testing.T, ch <-chan *pb.CollectorStatus, collector string, state pb.CollectorStatus_State, reason string) *pb.CollectorStatus {
	t.Helper()
	timeout := time.After(waitTimeout)
	for {
		select {
		case s := <-ch:
			if s.Collector != collector {
				continue
			}
			if s.State != state || s.Reason != reason {
				t.Fatalf("%s: got %v %q, want %v %q", collector, s.State, s.Reason, state, reason)
			}
			return s
		case <-timeout:
			t.Fatalf("no %v status for %s", state, collector)
			return nil
		}
	}
}

func dial(t *testing.T, sock, name, instance string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{Endpoint: sock, Name: name, InstanceID: instance, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func beat(t *testing.T, c *client.Client, interval time.Duration) {
	t.Helper()
	payload, _ := proto.Marshal(&pb.Heartbeat{IntervalMs: uint32(interval.Milliseconds()), Status: "ok"})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := c.PublishConfirmed(ctx, topic.ControlHealthHeartbeat, payload); err != nil {
		t.Fatal(err)
	}
}

func find(table []*pb.CollectorStatus, collector string) *pb.CollectorStatus {
	for _, s := range table {
		if s.Collector == collector {
			return s
		}
	}
	return nil
}

// Collectors beat over real sockets; the service runs in the broker's
// process: beating is ALIVE, silence is LOST, a closed connection is
// DISCONNECTED at once, and a presence request gets the table.
func TestPresenceOnBroker(t *testing.T) {
	b, sock := startBroker(t, presence.Config{TickInterval: 5 * time.Millisecond})
	status := watchStatus(t, b)

	// procmond beats fast and then falls silent; netmond beats once an hour
	// and so can only leave by disconnecting.
	procmond := dial(t, sock, "procmond", "proc-1")
	netmond := dial(t, sock, "netmond", "net-1")
	beat(t, procmond, 20*time.Millisecond)
	alive := next(t, status, "procmond", pb.CollectorStatus_STATE_ALIVE, presence.ReasonFirstHeartbeat)
	if alive.InstanceId != "proc-1" || alive.SessionId != procmond.SessionID() || alive.Status != "ok" {
		t.Fatalf("procmond alive: %v", alive)
	}
	stopBeats := netmond.StartHeartbeat(time.Hour, nil) // beats at once, then hourly
	defer stopBeats()
	next(t, status, "netmond", pb.CollectorStatus_STATE_ALIVE, presence.ReasonFirstHeartbeat)

	next(t, status, "procmond", pb.CollectorStatus_STATE_LOST, "missed 3 beats (60ms)")
	beat(t, procmond, time.Hour)
	next(t, status, "procmond", pb.CollectorStatus_STATE_ALIVE, presence.ReasonResumed)

	table, err := presenceTable(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(table) != 2 || table[0].Collector != "netmond" || table[1].Collector != "procmond" {
		t.Fatalf("table %v", table)
	}
	if p := table[1]; p.State != pb.CollectorStatus_STATE_ALIVE || p.Beats != 2 || p.Previous != pb.CollectorStatus_STATE_LOST {
		t.Fatalf("procmond in the table: %v", p)
	}

	netmond.Close()
	gone := next(t, status, "netmond", pb.CollectorStatus_STATE_DISCONNECTED, "connection ended: closed")
	if gone.Previous != pb.CollectorStatus_STATE_ALIVE {
		t.Fatalf("netmond disconnected: %v", gone)
	}
	table, err = presenceTable(b)
	if err != nil {
		t.Fatal(err)
	}
	if n := find(table, "netmond"); n == nil || n.State != pb.CollectorStatus_STATE_DISCONNECTED {
		t.Fatalf("netmond in the table: %v", n)
	}
	if p := find(table, "procmond"); p == nil || p.State != pb.CollectorStatus_STATE_ALIVE {
		t.Fatalf("procmond in the table: %v", p)
	}
}

// A collector may not beat for another: the broker names the publisher.
func TestPresenceRefusesBeatsForOthers(t *testing.T) {
	b, sock := startBroker(t, presence.Config{})
	status := watchStatus(t, b)
	procmond := dial(t, sock, "procmond", "proc-1")
	payload, _ := proto.Marshal(&pb.Heartbeat{Collector: "netmond", IntervalMs: 60_000})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := procmond.PublishConfirmed(ctx, topic.ControlHealthHeartbeat, payload); err != nil {
		t.Fatal(err)
	}
	beat(t, procmond, time.Hour)
	next(t, status, "procmond", pb.CollectorStatus_STATE_ALIVE, presence.ReasonFirstHeartbeat)
	table, err := presenceTable(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(table) != 1 || table[0].Collector != "procmond" {
		t.Fatalf("table %v", table)
	}
}
