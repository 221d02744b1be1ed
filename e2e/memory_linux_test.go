package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daemoneye/eventbus/client"
)

// The broker's memory, as the operating system sees it: its resident set
// idle, and with 16 sessions holding 10,000 subscriptions between them
// after an event has been routed to every one of them. The bounds are the
// performance targets of docs/benchmarks.md, with room: they catch a leak
// or a structure sized by a limit instead of by use, not a few percent.
func TestBrokerMemory(t *testing.T) {
	const (
		sessions    = 16
		perSession  = 625
		idleLimit   = 20 << 20
		loadedLimit = 64 << 20
	)
	b := startBroker(t, "-max-connections", "64", "-presence=false")
	idle := residentBytes(t, b.cmd.Process.Pid)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	received := make(chan struct{}, sessions)
	for s := range sessions {
		c, err := client.Dial(ctx, client.Options{
			Endpoint: b.socket, Name: "daemoneye-agent", InstanceID: fmt.Sprintf("mem-%d", s),
			Reconnect: client.Reconnect{Disabled: true},
		})
		if err != nil {
			t.Fatalf("session %d: %v", s, err)
		}
		defer c.Close()
		for i := range perSession {
			// Literal filters, + and # wildcards, as an agent would mix them.
			var filter string
			switch i % 4 {
			case 0, 1:
				filter = fmt.Sprintf("events.process.mem.s%d.t%d", s, i)
			case 2:
				filter = fmt.Sprintf("events.process.mem.+.t%d.s%d", i, s)
			default:
				filter = fmt.Sprintf("events.process.mem.s%d.x%d.#", s, i)
			}
			if _, err := c.SubscribeContext(ctx, filter, func(*client.Message) {}); err != nil {
				t.Fatalf("session %d, %s: %v", s, filter, err)
			}
		}
		if _, err := c.SubscribeContext(ctx, "events.process.mem.all", func(*client.Message) { received <- struct{}{} }); err != nil {
			t.Fatal(err)
		}
	}
	pub, err := client.Dial(ctx, client.Options{Endpoint: b.socket, Name: "procmond", Reconnect: client.Reconnect{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if n, err := pub.PublishConfirmed(ctx, "events.process.mem.all", []byte("to everyone")); err != nil || n != sessions {
		t.Fatalf("publish reached %d sessions (%v), want %d", n, err, sessions)
	}
	for range sessions {
		select {
		case <-received:
		case <-ctx.Done():
			t.Fatal("not every session received the event")
		}
	}
	loaded := residentBytes(t, b.cmd.Process.Pid)
	t.Logf("eventbusd resident set: %.1f MiB idle, %.1f MiB with %d sessions and %d subscriptions",
		mib(idle), mib(loaded), sessions, sessions*(perSession+1))
	if idle > idleLimit || loaded > loadedLimit {
		t.Fatalf("resident set %.1f MiB idle (limit %.0f), %.1f MiB loaded (limit %.0f)",
			mib(idle), mib(idleLimit), mib(loaded), mib(loadedLimit))
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// residentBytes reads VmRSS from /proc/<pid>/status.
func residentBytes(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}
