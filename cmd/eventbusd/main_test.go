package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/client"
	"github.com/daemoneye/eventbus/topic"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

const waitTimeout = 10 * time.Second

var quiet = slog.New(slog.DiscardHandler)

// startDaemon runs eventbusd with args on a fresh socket until the test
// ends, and returns the socket once it accepts clients.
func startDaemon(t *testing.T, args ...string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "eb-") // t.TempDir can be too long for a socket path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "bus.sock")
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- run(ctx, append([]string{"-socket", sock, "-log-level", "error"}, args...), io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	deadline := time.Now().Add(waitTimeout)
	for {
		if _, err := os.Stat(sock); err == nil {
			return sock
		}
		select {
		case err := <-ran:
			t.Fatalf("eventbusd ended: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("eventbusd did not listen")
		}
		time.Sleep(time.Millisecond)
	}
}

func dial(t *testing.T, sock, name string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{Endpoint: sock, Name: name, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// presenceSubscribed reports whether some session subscribes to presence
// requests.
func presenceSubscribed(t *testing.T, admin *client.Client) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	sessions, err := admin.ListSubscriptions(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sessions {
		for _, sub := range s.Subscriptions {
			if sub.Filter == topic.ControlHealthPresence {
				return true
			}
		}
	}
	return false
}

// A plain eventbusd tracks collectors: a heartbeat makes a status event.
func TestPresenceRunsByDefault(t *testing.T) {
	sock := startDaemon(t)
	agent := dial(t, sock, "daemoneye-agent")
	statuses := make(chan *pb.CollectorStatus, 16)
	if _, err := agent.Subscribe(topic.ControlHealthStatus, func(m *client.Message) {
		s := &pb.CollectorStatus{}
		if proto.Unmarshal(m.Payload, s) == nil {
			statuses <- s
		}
	}); err != nil {
		t.Fatal(err)
	}
	procmond := dial(t, sock, "procmond")
	beat, _ := proto.Marshal(&pb.Heartbeat{IntervalMs: 60_000, Status: "ok"})
	// The tracker starts next to the listener: beat until it answers.
	deadline := time.After(waitTimeout)
	retry := time.NewTicker(50 * time.Millisecond)
	defer retry.Stop()
	for {
		if err := procmond.Publish(context.Background(), topic.ControlHealthHeartbeat, beat); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-statuses:
			if s.Collector != "procmond" || s.State != pb.CollectorStatus_STATE_ALIVE || s.SessionId != procmond.SessionID() {
				t.Fatalf("status %v", s)
			}
			if !presenceSubscribed(t, agent) {
				t.Fatal("the tracker runs but its presence subscription is not listed")
			}
			return
		case <-retry.C:
		case <-deadline:
			t.Fatal("no collector status from eventbusd")
		}
	}
}

func TestPresenceCanBeTurnedOff(t *testing.T) {
	sock := startDaemon(t, "-presence=false")
	if presenceSubscribed(t, dial(t, sock, "daemoneye-agent")) {
		t.Fatal("-presence=false still answers presence requests")
	}
}
