package client_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/client"
)

// payloadFor is event i's payload: its number, padded to a size that
// varies, so that payloads land in a reused arena, outgrow it, or are too
// large for it.
func payloadFor(i int) []byte {
	p := []byte(fmt.Sprintf("event %d;", i))
	switch i % 3 {
	case 1:
		p = append(p, bytes.Repeat([]byte{byte(i)}, 1000)...)
	case 2:
		p = append(p, bytes.Repeat([]byte{byte(i)}, 2000)...)
	}
	return p
}

// With ReuseMessages every handler sees every message intact while it
// runs, the client reuses message memory between batches, and a Clone
// keeps its contents after the original's memory has been reused. Without
// it, no message is ever handed out twice.
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
			bad := make(chan string, 1)
			report := func(msg string) {
				select {
				case bad <- msg:
				default:
				}
			}
			// Two subscriptions match every event: both handlers get the
			// same Message, one after the other.
			handled := make(chan struct{}, rounds*perRound)
			var wide, narrow int
			if _, err := sub.Subscribe("load.#", func(m *client.Message) {
				if want := payloadFor(wide); !bytes.Equal(m.Payload, want) || m.Topic != "load.seq" || len(m.SubscriptionIDs) != 2 {
					report(fmt.Sprintf("load.# handler: message %d: %.20q... on %s with %d ids", wide, m.Payload, m.Topic, len(m.SubscriptionIDs)))
				}
				mu.Lock()
				seen[m]++
				if wide%perRound == 0 {
					clones = append(clones, m.Clone())
				}
				mu.Unlock()
				wide++
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := sub.Subscribe("load.seq", func(m *client.Message) {
				if want := payloadFor(narrow); !bytes.Equal(m.Payload, want) {
					report(fmt.Sprintf("load.seq handler: message %d: %.20q...", narrow, m.Payload))
				}
				narrow++
				handled <- struct{}{}
			}); err != nil {
				t.Fatal(err)
			}
			pub := dial(t, options(tb.sock, "collector"))
			for r := range rounds {
				for i := range perRound {
					ctx, cancel := ctxT()
					err := pub.Publish(ctx, "load.seq", payloadFor(r*perRound+i))
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
				if want := payloadFor(i * perRound); !bytes.Equal(c.Payload, want) {
					t.Fatalf("clone %d holds %.20q..., want %.20q...", i, c.Payload, want)
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
