package broker

import (
	"testing"
	"time"
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
	q := newQueue(limits(1<<20, 1<<19), 1<<20)
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
	if msgs, bytes := q.depth(); msgs != 0 || bytes != 0 || q.controls != 0 {
		t.Fatalf("depth %d events, %d bytes, %d controls after taking everything", msgs, bytes, q.controls)
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
	qs := []*queue{newQueue(limits(10, 5), 1), newQueue(limits(10, 5), 1)}
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

// limits are queue bounds in events, with bytes out of the way.
func limits(msgs, pause int) queueLimits {
	return queueLimits{maxMsgs: msgs, maxBytes: 1 << 30, pauseMsgs: pause}
}

// A publisher waits for a queue at its mark until its consumer takes it
// below; a consumer that takes nothing while a publisher waits is ignored
// until it takes again, and the room above the mark is what it has until
// events drop.
func TestQueueFlowControl(t *testing.T) {
	const limit, mark = 64, 16
	q := newQueue(limits(limit, mark), 1)
	push := func(n int) {
		t.Helper()
		for range n {
			if r := q.pushEvent(getEvent(64), []uint32{1}); !r.queued() {
				t.Fatalf("push refused: %d", r)
			}
		}
	}
	push(mark - 1)
	if drained, _ := q.congested(); drained != nil {
		t.Fatal("congested below the mark")
	}
	push(1)
	drained, takes := q.congested()
	if drained == nil {
		t.Fatal("not congested at the mark")
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
	if gaveUp, _ := q.giveUp(takes); gaveUp {
		t.Fatal("gave up on a consumer that had taken its queue")
	}

	push(mark)
	_, takes = q.congested()
	if gaveUp, episode := q.giveUp(takes); !gaveUp || !episode {
		t.Fatalf("give-up on a consumer that took nothing: %v, episode %v; want both", gaveUp, episode)
	}
	if gaveUp, _ := q.giveUp(takes); gaveUp {
		t.Fatal("gave up twice on an ignored consumer")
	}
	push(limit - mark) // the room above the mark
	if drained, _ := q.congested(); drained != nil {
		t.Fatal("publishers still wait for an ignored consumer")
	}
	if r := q.pushEvent(getEvent(64), []uint32{1}); r != droppedFull {
		t.Fatalf("push to a full queue: %d, want droppedFull", r)
	}
	// Any take proves the consumer alive; only catching up ends the
	// episode, so a consumer stuck again within it is not logged again.
	batch, _, _ := q.take()
	q.recycle(batch)
	push(mark)
	drained, takes = q.congested()
	if drained == nil {
		t.Fatal("consumer that took again is still ignored")
	}
	if gaveUp, episode := q.giveUp(takes); !gaveUp || episode {
		t.Fatalf("second give-up in one episode: %v, new episode %v; want a give-up in the same episode", gaveUp, episode)
	}
	takeAll(t, q) // a backlog: not caught up yet
	push(mark / 4)
	takeAll(t, q) // caught up
	push(mark)
	_, takes = q.congested()
	if _, episode := q.giveUp(takes); !episode {
		t.Fatal("a give-up after catching up did not begin a new episode")
	}
	q.close()
	if drained, _ := q.congested(); drained != nil {
		t.Fatal("closed queue congested")
	}
}

// A queue's bytes count the subscription ids of each entry, which an event
// routed without the cache holds for it alone.
func TestQueueCountsSubscriptionIDs(t *testing.T) {
	ev := getEvent(64)
	ev.frame = append(ev.frame, make([]byte, 60)...)
	defer ev.release()
	many := make([]uint32, 1000)
	q := newQueue(queueLimits{maxMsgs: 100, maxBytes: 2*ev.size() + 4*len(many) + 4, pauseMsgs: 50}, 1)
	defer takeAll(t, q)
	if r := q.pushEvent(ev, many); r != pushed {
		t.Fatalf("first push: %d", r)
	}
	if r := q.pushEvent(ev, many); r != droppedFull {
		t.Fatalf("second push of an event with %d ids: %d, want droppedFull", len(many), r)
	}
	if r := q.pushEvent(ev, many[:1]); !r.queued() {
		t.Fatalf("push of the event with one id: %d", r)
	}
}

// fill pushes n small events to q.
func fill(t *testing.T, q *queue, n int) {
	t.Helper()
	for range n {
		if r := q.pushEvent(getEvent(64), []uint32{1}); !r.queued() {
			t.Fatalf("push refused: %d", r)
		}
	}
}

// A publisher waiting for several receivers judges each over the whole
// wait: a live consumer behind a stuck one is not taken for stuck because
// the stuck one used up the time.
func TestPaceJudgesEachReceiverOverTheWholeWait(t *testing.T) {
	const limit = 4 * maxTakeChunks * chunkEntries
	stuck, slow := newQueue(limits(limit, limit/2), 1), newQueue(limits(limit, limit/2), 1)
	fill(t, stuck, limit/2)
	// After one take, slow is still over its mark: its consumer makes
	// progress without ever releasing the publisher.
	fill(t, slow, limit-1)
	go func() {
		// Take a slice once the publisher waits, whichever queue it is
		// waiting for at that moment.
		for {
			slow.mu.Lock()
			waiting := slow.drained != nil
			slow.mu.Unlock()
			if waiting {
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
		batch, _, _ := slow.take()
		slow.recycle(batch)
	}()
	var w wakeups
	var c counters
	w.add(stuck)
	w.add(slow)
	w.flush(300*time.Millisecond, &c)
	if got := c.flowGiveUps.Load(); got != 1 {
		t.Fatalf("%d give-ups, want 1: only the consumer that took nothing", got)
	}
	if c.flowWaits.Load() != 1 {
		t.Fatalf("%d waits counted for one read, want 1", c.flowWaits.Load())
	}
	if drained, _ := slow.congested(); drained == nil {
		t.Fatal("the live consumer was taken for stuck")
	}
	if drained, _ := stuck.congested(); drained != nil {
		t.Fatal("the stuck consumer is still waited for")
	}
}

// Closing a queue releases a publisher waiting for it, and is not a
// give-up.
func TestPaceReleasedByClose(t *testing.T) {
	q := newQueue(limits(64, 32), 1)
	fill(t, q, 32)
	var c counters
	done := make(chan struct{})
	go func() {
		defer close(done)
		var w wakeups
		w.add(q)
		w.flush(time.Hour, &c)
	}()
	for {
		q.mu.Lock()
		waiting := q.drained != nil
		q.mu.Unlock()
		if waiting {
			break
		}
		time.Sleep(time.Millisecond)
	}
	q.close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a publisher waiting for a queue was not released when it closed")
	}
	if c.flowGiveUps.Load() != 0 {
		t.Fatal("closing counted as a give-up")
	}
}
