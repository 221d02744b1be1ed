//go:build unix

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// delivered is one line of `ebctl sub -json`.
type delivered struct {
	Topic     string `json:"topic"`
	Payload   string `json:"payload"`
	Publisher struct {
		Name string `json:"name"`
	} `json:"publisher"`
	SubscriptionIDs []uint32 `json:"subscription_ids"`
	Dropped         uint64   `json:"dropped_before"`
}

func numberedLines(prefix string, n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%s-%d\n", prefix, i)
	}
	return b.String()
}

// Two collector processes publish concurrently; an agent-side subscriber
// process with a + filter and an overlapping # filter gets exactly the
// matching events, each once, in publish order per publisher.
func TestCrossProcessRouting(t *testing.T) {
	const n = 300
	b := startBroker(t)
	agent := b.startEbctl(t, "agent", nil, "sub", "-json", "-name", "daemoneye-agent",
		"-count", strconv.Itoa(2*n), "events.+.lifecycle", "events.#")
	b.waitSubscribed(t, "daemoneye-agent events.+.lifecycle", "daemoneye-agent events.#")

	// Not matched by any filter: must never arrive.
	if _, errOut, err := b.ebctl(t, "", "pub", "-name", "procmond", "control.health.status", "not-for-the-agent"); err != nil {
		t.Fatalf("pub: %v: %s", err, errOut)
	}
	procmond := b.startEbctl(t, "procmond", strings.NewReader(numberedLines("p", n)),
		"pub", "-q", "-name", "procmond", "events.process.lifecycle", "-")
	netmond := b.startEbctl(t, "netmond", strings.NewReader(numberedLines("n", n)),
		"pub", "-q", "-name", "netmond", "events.network.connections", "-")
	for _, p := range []*proc{procmond, netmond} {
		if err := p.wait(60 * time.Second); err != nil {
			t.Fatalf("%s: %v: %s", p.name, err, p.stderr.String())
		}
	}
	if err := agent.wait(30 * time.Second); err != nil {
		t.Fatalf("agent: %v: %s", err, agent.stderr.String())
	}

	next := map[string]int{"procmond": 1, "netmond": 1}
	for i, line := range agent.stdout.lines() {
		var m delivered
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d %q: %v", i, line, err)
		}
		wantTopic, prefix, wantIDs := "events.process.lifecycle", "p", 2
		if m.Publisher.Name == "netmond" {
			wantTopic, prefix, wantIDs = "events.network.connections", "n", 1
		}
		want := fmt.Sprintf("%s-%d", prefix, next[m.Publisher.Name])
		if m.Topic != wantTopic || m.Payload != want {
			t.Fatalf("line %d: got %s %q from %q, want %s %q", i, m.Topic, m.Payload, m.Publisher.Name, wantTopic, want)
		}
		if len(m.SubscriptionIDs) != wantIDs {
			t.Fatalf("line %d: %s matched subscriptions %v, want %d of them", i, m.Topic, m.SubscriptionIDs, wantIDs)
		}
		if m.Dropped != 0 {
			t.Fatalf("line %d: %d events dropped before it", i, m.Dropped)
		}
		next[m.Publisher.Name]++
	}
	if next["procmond"] != n+1 || next["netmond"] != n+1 {
		t.Fatalf("received %d process and %d network events, want %d each", next["procmond"]-1, next["netmond"]-1, n)
	}
}

// A collector killed with SIGKILL loses its subscriptions at the broker,
// which keeps serving everyone else.
func TestKilledCollectorIsRemoved(t *testing.T) {
	b := startBroker(t)
	collector := b.startEbctl(t, "procmond", nil, "sub", "-name", "procmond", "control.collector.task.process")
	agent := b.startEbctl(t, "agent", nil, "sub", "-name", "daemoneye-agent", "-count", "1", "events.#")
	b.waitSubscribed(t, "procmond control.collector.task.process", "daemoneye-agent events.#")

	collector.signal(syscall.SIGKILL)
	_ = collector.wait(10 * time.Second)
	eventually(t, 10*time.Second, "the killed collector's subscription to disappear", func() bool {
		for _, row := range b.subscriptions(t) {
			if strings.HasPrefix(row, "procmond ") {
				return false
			}
		}
		return true
	})

	if _, errOut, err := b.ebctl(t, "", "pub", "-name", "netmond", "events.network.connections", "after-the-kill"); err != nil {
		t.Fatalf("pub after kill: %v: %s", err, errOut)
	}
	if err := agent.wait(10 * time.Second); err != nil {
		t.Fatalf("agent: %v: %s", err, agent.stderr.String())
	}
	if got := strings.TrimSpace(agent.stdout.String()); got != "events.network.connections after-the-kill" {
		t.Fatalf("agent got %q", got)
	}
	if !strings.Contains(b.stderr.String(), "subscriptions_removed=1") {
		t.Fatalf("broker log does not show the collector's subscription removed:\n%s", b.stderr.String())
	}
}

// SIGTERM shuts the broker down cleanly: exit status 0, clients told, socket
// and lock files removed. A subscriber says what happened, reconnects to the
// next broker on the same socket and resubscribes by itself.
func TestBrokerShutsDownOnSIGTERM(t *testing.T) {
	b := startBroker(t)
	sub := b.startEbctl(t, "agent", nil, "sub", "-name", "daemoneye-agent", "events.#")
	b.waitSubscribed(t, "daemoneye-agent events.#")

	b.signal(syscall.SIGTERM)
	if err := b.wait(10 * time.Second); err != nil {
		t.Fatalf("eventbusd exited with %v: %s", err, b.stderr.String())
	}
	if _, err := os.Lstat(b.socket); !os.IsNotExist(err) {
		t.Fatalf("socket still there after shutdown: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(b.socket))
	if len(entries) != 0 {
		t.Fatalf("files left in the socket directory: %v", entries)
	}
	eventually(t, 10*time.Second, "the subscriber to report the shutdown", func() bool {
		out := sub.stderr.String()
		return strings.Contains(out, "shutting down") && strings.Contains(out, "reconnecting")
	})

	again := startBrokerOn(t, b.socket)
	again.waitSubscribed(t, "daemoneye-agent events.#")
	if _, errOut, err := again.ebctl(t, "", "pub", "-name", "procmond", "events.process.lifecycle", "after-restart"); err != nil {
		t.Fatalf("pub to the new broker: %v: %s", err, errOut)
	}
	eventually(t, 10*time.Second, "the resubscribed subscriber to get the event", func() bool {
		return strings.Contains(sub.stdout.String(), "events.process.lifecycle after-restart")
	})
}

// A second broker on the same socket fails with a clear message and the
// first keeps working.
func TestSecondBrokerRefused(t *testing.T) {
	b := startBroker(t)
	second := start(t, "second eventbusd", nil, bin.eventbusd, "-socket", b.socket)
	err := second.wait(10 * time.Second)
	if err == nil {
		t.Fatal("second broker started on a live broker's socket")
	}
	if !strings.Contains(second.stderr.String(), "in use by another running broker") {
		t.Fatalf("second broker's message does not say why: %q", second.stderr.String())
	}
	if _, errOut, err := b.ebctl(t, "", "pub", "-name", "procmond", "events.process.lifecycle", "still-alive"); err != nil {
		t.Fatalf("first broker no longer serves: %v: %s", err, errOut)
	}
}

// A broker killed with SIGKILL leaves a stale socket; the next broker on the
// same path removes it and serves.
func TestStaleSocketReplaced(t *testing.T) {
	b := startBroker(t)
	b.signal(syscall.SIGKILL)
	_ = b.wait(10 * time.Second)
	if _, err := os.Lstat(b.socket); err != nil {
		t.Fatalf("expected a stale socket after SIGKILL: %v", err)
	}
	p := start(t, "eventbusd again", nil, bin.eventbusd, "-socket", b.socket)
	again := &broker{proc: p, socket: b.socket}
	eventually(t, 10*time.Second, "restarted broker serving", func() bool {
		_, _, err := again.ebctl(t, "", "pub", "-name", "procmond", "events.process.lifecycle", "x")
		return err == nil
	})
}
