package broker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/client"
)

// A subscriber that falls behind a burst slows its publisher instead of
// losing events. With flow control off, the same burst loses events, and
// the broker counts every one of them.
func TestFlowControl(t *testing.T) {
	const (
		// Half the queue must hold one read of the publisher's input
		// (128 KiB, about 230 of these events) for flow control to lose
		// nothing: the broker pauses between reads, not within one.
		queueMsgs = 1024
		events    = 20000
		size      = 512
	)
	for _, tc := range []struct {
		name     string
		wait     time.Duration
		lossless bool
	}{
		// The longest wait allowed, so that only a broken flow control,
		// not a busy test machine, loses an event.
		{"on", broker.MaxFlowControlWait, true},
		{"off", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := startBroker(t, broker.Config{
				QueueMessages:   queueMsgs,
				FlowControlWait: tc.wait,
				WriteTimeout:    time.Minute,
				IdleTimeout:     time.Minute,
			})
			// The subscriber's first handler call blocks until the broker
			// has had to act on the burst behind it.
			in, open, published := gatedBurst(t, tb, events, size)

			if tc.lossless {
				eventually(t, "the publisher to be paused", func() bool { return tb.Stats().FlowControlWaits > 0 })
			} else {
				eventually(t, "events to be dropped", func() bool { return tb.Stats().Dropped > 0 })
			}
			open()

			var received, reported uint64
			prev := int64(-1)
			for received+tb.Stats().Dropped < events || len(in.ch) > 0 {
				m := in.next(t)
				s := int64(seqOf(m.Payload))
				if s <= prev || uint64(s-prev-1) != m.Dropped {
					t.Fatalf("got seq %d after %d with %d reported dropped", s, prev, m.Dropped)
				}
				prev = s
				received++
				reported += m.Dropped
			}
			if err := <-published; err != nil {
				t.Fatalf("publish: %v", err)
			}
			st := tb.Stats()
			t.Logf("received %d, dropped %d (%d reported); publisher paused %d times, given up on %d",
				received, st.Dropped, reported, st.FlowControlWaits, st.FlowControlGiveUps)
			if received+st.Dropped != events || reported > st.Dropped {
				t.Fatalf("%d received + %d dropped (%d reported), want %d in all", received, st.Dropped, reported, events)
			}
			if tc.lossless {
				if st.Dropped != 0 || st.FlowControlGiveUps != 0 {
					t.Fatalf("flow control lost %d events and gave up %d times on a subscriber that kept reading", st.Dropped, st.FlowControlGiveUps)
				}
			} else if st.FlowControlWaits != 0 {
				t.Fatalf("publisher paused %d times with flow control off", st.FlowControlWaits)
			}
		})
	}
}

// Publishers pause at the flow-control mark, far below the queue's limit,
// and a receiver that stalls for longer than they wait loses nothing while
// the room above the mark holds what arrives meanwhile.
func TestStalledReceiverRidesTheRoomAboveTheMark(t *testing.T) {
	const (
		events = 12000
		size   = 512
		// Half the queue is far more than the burst: without its own
		// mark, flow control would never act on it.
		queueMsgs = 20000
		mark      = 256
	)
	tb := startBroker(t, broker.Config{
		QueueMessages:       queueMsgs,
		FlowControlMessages: mark,
		FlowControlWait:     20 * time.Millisecond,
		WriteTimeout:        time.Minute,
		IdleTimeout:         time.Minute,
	})
	// A short delivery queue in the subscriber, so that the burst piles
	// up in the broker, whatever the host's socket buffers hold.
	in, open, published := gatedBurst(t, tb, events, size, func(o *client.Options) { o.DeliveryQueue = 128 })
	// The subscriber stalls until its publisher has waited for it in vain
	// and then handed over the whole burst.
	eventually(t, "publishers to give up on the stalled subscriber", func() bool { return tb.Stats().FlowControlGiveUps > 0 })
	if err := <-published; err != nil {
		t.Fatalf("publish: %v", err)
	}
	open()

	for seq := range uint64(events) {
		m := in.next(t)
		if got := seqOf(m.Payload); got != seq || m.Dropped != 0 {
			t.Fatalf("got seq %d with %d reported dropped, want %d and none", got, m.Dropped, seq)
		}
	}
	if st := tb.Stats(); st.Dropped != 0 {
		t.Fatalf("%d events dropped for a subscriber whose queue had room", st.Dropped)
	}
}

// gatedBurst subscribes to load.# with a handler whose first call blocks
// until open is called (subTweak adjusts the subscriber's options), and
// publishes events sequenced payloads of size bytes on load.seq from
// another client; published reports the end of the publishing. The gate is opened when the test ends, so that a failing
// test does not leave a client's Close waiting for a blocked handler.
func gatedBurst(t *testing.T, tb *testBroker, events, size int, subTweak ...func(*client.Options)) (in *inbox, open func(), published <-chan error) {
	t.Helper()
	gate := make(chan struct{})
	var once, release sync.Once
	open = func() { release.Do(func() { close(gate) }) }
	in = newInbox(events)
	sub := dialClient(t, tb.sock, "agent", subTweak...)
	// Registered after the client's cleanup, so it runs first.
	t.Cleanup(open)
	subscribe(t, sub, "load.#", func(m *client.Message) {
		once.Do(func() { <-gate })
		in.handler(m)
	})
	pub := dialClient(t, tb.sock, "collector")
	done := make(chan error, 1)
	go func() {
		for seq := range uint64(events) {
			if err := pub.Publish(context.Background(), "load.seq", seqPayload(seq, size)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return in, open, done
}
