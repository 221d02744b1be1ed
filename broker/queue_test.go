package broker

import (
	"testing"
)

// takeAll takes everything queued, as the consumer does, one bounded take
// after another.
func takeAll(t *testing.T, q *queue) []queued {
	t.Helper()
	var out []queued
	for {
		batch, more, _ := q.take()
		out = append(out, drain(batch)...)
		q.recycle(batch)
		if !more {
			return out
		}
	}
}

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
	const n = (maxTakeChunks+1)*chunkEntries + 7
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
	batch, more, closed := q.take()
	if closed || !more {
		t.Fatalf("first take: more %v, closed %v; want more queued and not closed", more, closed)
	}
	got := drain(batch)
	if len(got) != maxTakeChunks*chunkEntries {
		t.Fatalf("first take has %d entries, want %d whole chunks", len(got), maxTakeChunks)
	}
	q.recycle(batch)
	got = append(got, takeAll(t, q)...)
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
	if msgs, bytes := q.depth(); msgs != 0 || bytes != 0 {
		t.Fatalf("depth %d events, %d bytes after taking everything", msgs, bytes)
	}
	if batch, _, _ := q.take(); batch != nil {
		t.Fatalf("queue not empty after take: %d entries", len(drain(batch)))
	}
	// The queue works again after a take.
	if r := q.pushEvent(getEvent(64), []uint32{1}); r != pushed {
		t.Fatalf("push after take: %d", r)
	}
	if got := takeAll(t, q); len(got) != 1 {
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
		takeAll(t, q)
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

// A publisher waits for a half-full queue until its consumer takes it
// below half; a consumer that takes nothing while a publisher waits is
// ignored until it has caught up.
func TestQueueFlowControl(t *testing.T) {
	const limit = 64
	q := newQueue(limit, 1<<30, 1)
	push := func(n int) {
		t.Helper()
		for range n {
			if r := q.pushEvent(getEvent(64), []uint32{1}); !r.queued() {
				t.Fatalf("push refused: %d", r)
			}
		}
	}
	push(limit/2 - 1)
	if drained, _ := q.congested(); drained != nil {
		t.Fatal("congested below half")
	}
	push(1)
	drained, takes := q.congested()
	if drained == nil {
		t.Fatal("not congested at half")
	}
	if again, _ := q.congested(); again != drained {
		t.Fatal("waiters on one queue should share one channel")
	}
	takeAll(t, q)
	select {
	case <-drained:
	default:
		t.Fatal("taking the queue did not release its waiters")
	}
	if q.giveUp(takes) {
		t.Fatal("gave up on a consumer that had taken its queue")
	}

	push(limit / 2)
	_, takes = q.congested()
	if !q.giveUp(takes) {
		t.Fatal("first give-up on a consumer that took nothing should begin an episode")
	}
	if q.giveUp(takes) {
		t.Fatal("second give-up began another episode")
	}
	push(limit/2 - 1) // full but for one
	if drained, _ := q.congested(); drained != nil {
		t.Fatal("publishers still wait for an ignored consumer")
	}
	// A take of a backlog is not catching up; a take of a short queue is.
	takeAll(t, q)
	push(limit / 2)
	if drained, _ := q.congested(); drained != nil {
		t.Fatal("consumer waited for again before it caught up")
	}
	takeAll(t, q)
	push(limit / 8)
	takeAll(t, q)
	push(limit / 2)
	if drained, _ := q.congested(); drained == nil {
		t.Fatal("consumer that caught up is still ignored")
	}
	q.close()
	if drained, _ := q.congested(); drained != nil {
		t.Fatal("closed queue congested")
	}
}
