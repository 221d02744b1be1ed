package client_test

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
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
// still never overlap and still see the events in order. With requests
// from another goroutine at the same time, and without.
func TestHandlerWaitsForAnswers(t *testing.T) {
	for _, reuse := range []bool{false, true} {
		for _, outside := range []bool{false, true} {
			t.Run(fmt.Sprintf("reuse=%v/outside=%v", reuse, outside), func(t *testing.T) {
				handlerWaitsForAnswers(t, reuse, outside)
			})
		}
	}
}

func handlerWaitsForAnswers(t *testing.T, reuse, outside bool) {
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
	// Room for every event even when each comes alone: while a handler
	// waits, what arrives queues up, and a full queue would stop the
	// reader, and with it the answer.
	sopts.DeliveryQueue = 128 * 2 * events
	sub := dial(t, sopts)
	ctx, cancel := ctxT()
	defer cancel()
	var (
		running  atomic.Int32
		next     atomic.Uint64 // the index the handler expects
		done     = make(chan struct{})
		doneOnce sync.Once
		failed   atomic.Bool
	)
	finish := func() { doneOnce.Do(func() { close(done) }) }
	fail := func(format string, args ...any) {
		if failed.CompareAndSwap(false, true) {
			t.Errorf(format, args...)
		}
		finish()
	}
	handler := func(m *client.Message) {
		defer running.Add(-1)
		if n := running.Add(1); n != 1 {
			fail("%d handlers run at once", n)
			return
		}
		if failed.Load() {
			return
		}
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
			finish()
		}
	}
	if _, err := sub.Subscribe("events.process.lifecycle", handler); err != nil {
		t.Fatal(err)
	}

	var others sync.WaitGroup
	stop := make(chan struct{})
	if outside {
		others.Add(1)
		go func() {
			defer others.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := sub.Request(ctx, "svc.echo", make([]byte, 8)); err != nil {
					fail("Request from another goroutine: %v", err)
					return
				}
			}
		}()
	}

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
	others.Wait()
	if err := sub.Err(); err != nil {
		t.Errorf("the subscriber's connection failed: %v", err)
	}
}

// A handler that blocks on something of its own holds up neither reading
// nor reconnection: the events that arrive meanwhile are read, a new
// broker is reached while it still blocks, and everything is handled, in
// order, once it returns.
func TestHandlerBlocksElsewhere(t *testing.T) {
	sock := filepath.Join(shortTempDir(t), "bus.sock")
	first := serveAt(t, sock, broker.Config{}, nil)
	sopts, states := reconnecting(sock, "agent")
	sub := dial(t, sopts)
	states.expect(t, client.Connected)
	entered := make(chan struct{})
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before Close, which waits for the handler
	got := make(chan string, 64)
	if _, err := sub.Subscribe("events.#", func(m *client.Message) {
		if m.Topic == "events.block" {
			close(entered)
			<-release
		}
		got <- m.Topic
	}); err != nil {
		t.Fatal(err)
	}
	popts, pstates := reconnecting(sock, "procmond")
	pub := dial(t, popts)
	pstates.expect(t, client.Connected)
	ctx, cancel := ctxT()
	defer cancel()
	if err := pub.Publish(ctx, "events.block", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(waitTimeout):
		t.Fatal("the handler was not called")
	}

	// Read while the handler blocks: more than the sockets hold between
	// broker and subscriber, so the broker's queue for the subscriber
	// empties only if the client reads on.
	const before = 24
	big := make([]byte, 64<<10)
	for range before {
		if _, err := pub.PublishConfirmed(ctx, "events.before", big); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the subscriber to read what arrived while its handler blocks", func() bool {
		st, err := pub.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range st.Sessions {
			if s.SessionId == sub.SessionID() {
				return s.QueuedMessages == 0
			}
		}
		t.Fatal("the subscriber's session is not listed")
		return false
	})

	first.stop(t)
	states.expect(t, client.Reconnecting)
	serveAt(t, sock, broker.Config{}, nil)
	states.expect(t, client.Connected) // while the handler still blocks
	pstates.expect(t, client.Reconnecting)
	pstates.expect(t, client.Connected)
	if _, err := pub.PublishConfirmed(ctx, "events.after", nil); err != nil {
		t.Fatal(err)
	}

	unblock()
	want := []string{"events.block"}
	for range before {
		want = append(want, "events.before")
	}
	want = append(want, "events.after")
	for i, w := range want {
		select {
		case topic := <-got:
			if topic != w {
				t.Fatalf("message %d is %s; want %s", i, topic, w)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("message %d (%s) was not handled", i, w)
		}
	}
}
