package client_test

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/client"
)

// A handler may wait for the broker's answers. The reader runs handlers
// itself when nothing is queued, so these answers can only arrive because
// another goroutine takes over reading while the handler waits; handlers
// still never overlap and still see the events in order.
func TestHandlerWaitsForAnswers(t *testing.T) {
	for _, reuse := range []bool{false, true} {
		t.Run(fmt.Sprintf("reuse=%v", reuse), func(t *testing.T) {
			tb := startBroker(t, broker.Config{})
			responder := dial(t, options(tb.sock, "procmond"))
			if _, err := responder.Subscribe("svc.echo", func(m *client.Message) {
				if err := m.Respond(m.Payload); err != nil {
					t.Errorf("Respond: %v", err)
				}
			}); err != nil {
				t.Fatal(err)
			}

			const events = 300
			sopts := options(tb.sock, "agent")
			sopts.ReuseMessages = reuse
			// Room for every event even when each comes alone: while a
			// handler waits, what arrives queues up, and a full queue
			// would stop the reader, and with it the answer.
			sopts.DeliveryQueue = 128 * 2 * events
			sub := dial(t, sopts)
			ctx, cancel := ctxT()
			defer cancel()
			var (
				running atomic.Int32
				next    atomic.Uint64 // the index the handler expects
				done    = make(chan struct{})
				failed  atomic.Bool
			)
			fail := func(format string, args ...any) {
				if failed.CompareAndSwap(false, true) {
					t.Errorf(format, args...)
					close(done)
				}
			}
			handler := func(m *client.Message) {
				if n := running.Add(1); n != 1 {
					fail("%d handlers run at once", n)
				}
				defer running.Add(-1)
				i := binary.BigEndian.Uint64(m.Payload)
				if want := next.Load(); i != want {
					fail("event %d arrived when %d was due", i, want)
					return
				}
				next.Add(1)
				// Every kind of wait for the broker, from the handler.
				switch i % 3 {
				case 0:
					r, err := sub.Request(ctx, "svc.echo", m.Payload)
					if err != nil || binary.BigEndian.Uint64(r.Payload) != i {
						fail("Request from a handler, event %d: %v", i, err)
						return
					}
				case 1:
					if _, err := sub.PublishConfirmed(ctx, "events.process.echo", m.Payload); err != nil {
						fail("PublishConfirmed from a handler, event %d: %v", i, err)
						return
					}
				case 2:
					s, err := sub.Subscribe(fmt.Sprintf("svc.extra.%d", i), func(*client.Message) {})
					if err != nil {
						fail("Subscribe from a handler, event %d: %v", i, err)
						return
					}
					if err := s.Unsubscribe(); err != nil {
						fail("Unsubscribe from a handler, event %d: %v", i, err)
						return
					}
				}
				if i == events-1 {
					close(done)
				}
			}
			if _, err := sub.Subscribe("events.process.lifecycle", handler); err != nil {
				t.Fatal(err)
			}

			// Requests from outside the handlers meanwhile.
			var outside sync.WaitGroup
			stop := make(chan struct{})
			outside.Add(1)
			go func() {
				defer outside.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := sub.Request(ctx, "svc.echo", make([]byte, 8)); err != nil {
						t.Errorf("Request from another goroutine: %v", err)
						return
					}
				}
			}()

			pub := dial(t, options(tb.sock, "procmond"))
			payload := make([]byte, 8)
			for i := range uint64(events) {
				binary.BigEndian.PutUint64(payload, i)
				if err := pub.Publish(ctx, "events.process.lifecycle", payload); err != nil {
					t.Fatal(err)
				}
				if i%50 == 0 {
					time.Sleep(time.Millisecond) // some events arrive alone
				}
			}
			select {
			case <-done:
			case <-time.After(waitTimeout):
				t.Fatalf("handlers stalled at event %d of %d", next.Load(), events)
			}
			close(stop)
			outside.Wait()
			if err := sub.Err(); err != nil {
				t.Errorf("the subscriber's connection failed: %v", err)
			}
		})
	}
}
