//go:build windows

package transport_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"strings"
	"testing"
	"time"

	"github.com/daemoneye/eventbus/acl"
	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/client"
	"github.com/daemoneye/eventbus/topic"
	"github.com/daemoneye/eventbus/transport"
)

// pubsubHelperEnv makes TestPubSubHelper act as a collector in a process
// of its own; pubsubHelperEnv+"_ENDPOINT" is the broker's pipe.
const pubsubHelperEnv = "EVENTBUS_PUBSUB_HELPER"

// TestPubSubAcrossProcesses runs a broker in this process on a real pipe,
// with the policy the broker uses by default, and a procmond in another
// process. The collector's claim is checked against the SID the pipe
// reports; then it publishes, receives a task, and answers it. Last, a
// policy that gives procmond to another user's SID refuses the same claim.
func TestPubSubAcrossProcesses(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	ep := fmt.Sprintf(`\\.\pipe\eventbus-test-%d-pubsub`, os.Getpid())
	peers := make(chan acl.Peer, 8)
	recording := func(p acl.Admitter) acl.Admitter {
		return acl.AdmitFunc(func(name string, peer acl.Peer) (*acl.Principal, error) {
			select {
			case peers <- peer:
			default:
			}
			return p.Admit(name, peer)
		})
	}
	// What broker.Config{Policy: nil} means: acl.Default for root and the
	// broker's user; on Windows that is SYSTEM and this user's SID.
	b, err := broker.New(broker.Config{
		Logger: slog.New(slog.DiscardHandler),
		Policy: recording(acl.Default(0, uint32(os.Geteuid()))),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.Listen(ep, nil)
	if err != nil {
		t.Fatal(err)
	}
	go b.Serve(ln)
	defer b.Close()

	events := make(chan *broker.Message, 8)
	if _, err := b.Subscribe("events.process.#", func(m *broker.Message) { events <- m }); err != nil {
		t.Fatal(err)
	}
	waitEvent := func(want string) {
		t.Helper()
		select {
		case m := <-events:
			if string(m.Payload) != want || m.Publisher.ClientName != "procmond" {
				t.Fatalf("event %q from %q, want %q from procmond", m.Payload, m.Publisher.ClientName, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no event %q from the collector process", want)
		}
	}

	cmd := pubsubHelper(t, "collector", ep)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitEvent("ready")
	if _, err := b.Publish(topic.ControlCollectorTaskProcess, []byte("task-42"), nil); err != nil {
		t.Fatal(err)
	}
	waitEvent("done task-42")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("collector process: %v", err)
	}
	select {
	case peer := <-peers:
		if !strings.EqualFold(peer.SID, me.Uid) || peer.UID != 0 || peer.GID != 0 {
			t.Errorf("the policy saw %+v, want sid %s and no uid or gid", peer, me.Uid)
		}
	default:
		t.Error("the policy was never asked")
	}

	// procmond now belongs to another user.
	other, err := acl.New("test", &acl.Principal{
		Name:    "procmond",
		SIDs:    []string{"S-1-5-21-1-2-3-1001"},
		Publish: acl.Rules{Allow: []topic.Filter{topic.MustParseFilter("events.process.#")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	b.SetPolicy(other)
	out, err := pubsubHelper(t, "refused", ep).Output()
	if err != nil {
		t.Fatalf("refused helper: %v", err)
	}
	if got := strings.TrimSpace(string(out)); !strings.HasPrefix(got, "refused: ") || !strings.Contains(got, me.Uid) {
		t.Errorf("claim under another user's policy: %s, want a refusal naming this SID", got)
	}
}

func pubsubHelper(t *testing.T, mode, endpoint string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestPubSubHelper$")
	cmd.Env = append(os.Environ(), pubsubHelperEnv+"="+mode, pubsubHelperEnv+"_ENDPOINT="+endpoint)
	cmd.Stderr = os.Stderr
	return cmd
}

// TestPubSubHelper is not a test: it is the collector process of
// TestPubSubAcrossProcesses.
func TestPubSubHelper(t *testing.T) {
	mode := os.Getenv(pubsubHelperEnv)
	if mode == "" {
		return
	}
	if err := runPubSubHelper(mode, os.Getenv(pubsubHelperEnv+"_ENDPOINT")); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

func runPubSubHelper(mode, endpoint string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{
		Endpoint:  endpoint,
		Name:      "procmond",
		Reconnect: client.Reconnect{Disabled: true},
		Logger:    slog.New(slog.DiscardHandler),
	})
	if mode == "refused" {
		if err == nil {
			c.Close()
			return errors.New("the claim was admitted")
		}
		if !errors.Is(err, client.ErrRefused) {
			return err
		}
		fmt.Println("refused:", err)
		return nil
	}
	if err != nil {
		return err
	}
	defer c.Close()
	tasks := make(chan string, 1)
	if _, err := c.Subscribe(topic.ControlCollectorTaskProcess, func(m *client.Message) {
		select {
		case tasks <- string(m.Payload):
		default:
		}
	}); err != nil {
		return err
	}
	if _, err := c.PublishConfirmed(ctx, topic.EventsProcessLifecycle, []byte("ready")); err != nil {
		return err
	}
	select {
	case task := <-tasks:
		_, err := c.PublishConfirmed(ctx, topic.EventsProcessLifecycle, []byte("done "+task))
		return err
	case <-ctx.Done():
		return fmt.Errorf("no task: %w", ctx.Err())
	}
}
