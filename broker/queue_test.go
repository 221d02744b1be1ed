package broker

import (
	"testing"
)

// drain collects a taken batch's entries in order.
func drain(batch *chunk) []queued {
	var out []queued
	for c := batch; c != nil; c = c.next {
		out = append(out, c.entries()...)
	}
	return out
}

func TestQueueKeepsOrderAcrossChunks(t *testing.T) {
	q := newQueue(1<<20, 1<<30, 1<<20)
	const n = 3*chunkEntries + 7
	evs := make([]*event, n)
	for i := range evs {
		evs[i] = getEvent(64)
		if i%5 == 0 {
			if !q.pushControl([]byte{byte(i)}) {
				t.Fatalf("control %d refused", i)
			}
		}
		if r := q.pushEvent(evs[i], []uint32{uint32(i)}); r != pushed {
			t.Fatalf("event %d: push result %d", i, r)
		}
	}
	if msgs, _ := q.depth(); msgs != n {
		t.Fatalf("depth %d events, want %d", msgs, n)
	}
	batch, closed := q.take()
	if closed {
		t.Fatal("queue reports closed")
	}
	got := drain(batch)
	next := 0
	for _, it := range got {
		if it.control != nil {
			if int(it.control[0]) != next%256 || next%5 != 0 {
				t.Fatalf("control for %d out of place before event %d", it.control[0], next)
			}
			continue
		}
		if it.ev != evs[next] || it.sids[0] != uint32(next) {
			t.Fatalf("entry %d: got event for subscription %d", next, it.sids[0])
		}
		next++
	}
	if next != n {
		t.Fatalf("took %d events, want %d", next, n)
	}
	q.recycle(batch)
	if batch, _ := q.take(); batch != nil {
		t.Fatalf("queue not empty after take: %d entries", len(drain(batch)))
	}
	// The queue works again after a take.
	if r := q.pushEvent(getEvent(64), []uint32{1}); r != pushed {
		t.Fatalf("push after take: %d", r)
	}
	if got := drain(func() *chunk { b, _ := q.take(); return b }()); len(got) != 1 {
		t.Fatalf("second take: %d entries, want 1", len(got))
	}
}

// An event shared by several queues stays intact until the router and
// every consumer have released it.
func TestEventRecycledOnlyAfterLastRelease(t *testing.T) {
	ev := getEvent(100)
	ev.frame = append(ev.frame, "frame"...)
	qs := []*queue{newQueue(10, 1<<20, 1), newQueue(10, 1<<20, 1)}
	for _, q := range qs {
		if q.pushEvent(ev, []uint32{1}) != pushed {
			t.Fatal("push refused")
		}
	}
	ev.release() // the router's hold
	for i, q := range qs {
		if string(ev.frame) != "frame" {
			t.Fatalf("frame cleared while %d queues still hold the event", len(qs)-i)
		}
		batch, _ := q.take()
		q.recycle(batch)
	}
	if n := ev.refs.Load(); n != 0 {
		t.Fatalf("refs %d after every holder released", n)
	}
	if len(ev.frame) != 0 || ev.pool < 0 {
		t.Fatalf("event not recycled: frame %q, pool %d", ev.frame, ev.pool)
	}
}

func TestLargeEventsAreNotPooled(t *testing.T) {
	ev := getEvent(smallestPooledFrame<<eventPoolClasses + 1)
	if ev.pool != -1 {
		t.Fatalf("event of %d bytes from pool %d", cap(ev.frame), ev.pool)
	}
	ev.frame = append(ev.frame, 'x')
	ev.release()
	if len(ev.frame) != 1 {
		t.Fatal("unpooled event was reset")
	}
}
