package client_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/client"
)

// With ReuseMessages a handler sees every message intact while it runs,
// the client reuses message memory between batches, and a Clone keeps its
// contents after the original's memory has been reused. Without it, no
// message is ever handed out twice.
func TestReuseMessages(t *testing.T) {
	const rounds, perRound = 20, 100
	for _, reuse := range []bool{true, false} {
		t.Run(fmt.Sprintf("reuse=%v", reuse), func(t *testing.T) {
			tb := startBroker(t, broker.Config{})
			opts := options(tb.sock, "agent")
			opts.ReuseMessages = reuse
			sub := dial(t, opts)

			var mu sync.Mutex
			seen := make(map[*client.Message]int) // pointer → times handed out
			var clones []*client.Message
			next := 0
			handled := make(chan struct{}, rounds*perRound)
			bad := make(chan string, 1)
			if _, err := sub.Subscribe("load.#", func(m *client.Message) {
				want := fmt.Sprintf("event %d", next)
				if string(m.Payload) != want || m.Topic != "load.seq" || len(m.SubscriptionIDs) != 1 {
					select {
					case bad <- fmt.Sprintf("handler got %q on %s, want %q", m.Payload, m.Topic, want):
					default:
					}
				}
				mu.Lock()
				seen[m]++
				if next%perRound == 0 {
					clones = append(clones, m.Clone())
				}
				mu.Unlock()
				next++
				handled <- struct{}{}
			}); err != nil {
				t.Fatal(err)
			}
			pub := dial(t, options(tb.sock, "collector"))
			for r := range rounds {
				for i := range perRound {
					ctx, cancel := ctxT()
					err := pub.Publish(ctx, "load.seq", []byte(fmt.Sprintf("event %d", r*perRound+i)))
					cancel()
					if err != nil {
						t.Fatal(err)
					}
				}
				// Let the round be handled, so that its batches come back
				// before the next round is read.
				within(t, "handling a round", func() {
					for range perRound {
						<-handled
					}
				})
			}
			select {
			case msg := <-bad:
				t.Fatal(msg)
			default:
			}
			mu.Lock()
			defer mu.Unlock()
			for i, c := range clones {
				if want := fmt.Sprintf("event %d", i*perRound); !bytes.Equal(c.Payload, []byte(want)) {
					t.Fatalf("clone %d holds %q, want %q", i, c.Payload, want)
				}
			}
			reused := 0
			for _, n := range seen {
				reused += n - 1
			}
			t.Logf("%d messages in %d distinct Message values", rounds*perRound, len(seen))
			if reuse && reused == 0 {
				t.Fatal("no Message was reused across rounds")
			}
			if !reuse && reused != 0 {
				t.Fatalf("%d messages handed out in a Message already used, without ReuseMessages", reused)
			}
		})
	}
}
