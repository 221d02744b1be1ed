package broker

import "sync"

// queue is a receiver's bounded outbound queue. Publishers push without ever
// blocking; one consumer goroutine (a socket writer or the in-process
// dispatcher) takes everything queued at once, so it can batch.
//
// Entries live in fixed-size chunks from a shared pool rather than in one
// growing slice: a receiver that falls behind never has its backlog copied
// to a bigger array, and an idle receiver holds no chunk at all.
type queue struct {
	maxMsgs, maxBytes int
	// maxControl bounds replies (acks, pongs, errors) separately: they are
	// never dropped, so a client that asks and does not read is closed
	// instead.
	maxControl int
	wake       chan struct{} // capacity 1: a pending wake-up for the consumer

	mu         sync.Mutex // guards the fields below
	head, tail *chunk
	msgs       int    // events queued
	bytes      int    // bytes of events queued
	controls   int    // control frames queued
	gap        uint64 // events dropped since the last queued event
	closed     bool
}

// queued is one entry: an event for some of the receiver's subscriptions, or
// a complete control frame.
type queued struct {
	ev      *event
	sids    []uint32
	dropped uint64 // events dropped just before this one
	control []byte
}

// chunkEntries is the size of a chunk: large enough that taking a chunk
// from the pool is rare next to pushing, small enough (about 10 KiB) that a
// receiver with a few events queued does not pin much.
const chunkEntries = 256

// chunk is a run of queued entries; a queue, and the batch its consumer
// takes, is a list of them.
type chunk struct {
	items [chunkEntries]queued
	n     int
	next  *chunk
}

var chunkPool = sync.Pool{New: func() any { return new(chunk) }}

// entries returns the chunk's queued entries.
func (c *chunk) entries() []queued { return c.items[:c.n] }

func newQueue(maxMsgs, maxBytes, maxControl int) *queue {
	return &queue{maxMsgs: maxMsgs, maxBytes: maxBytes, maxControl: maxControl, wake: make(chan struct{}, 1)}
}

// appendLocked adds an entry at the tail; q.mu must be held.
func (q *queue) appendLocked(it queued) {
	t := q.tail
	if t == nil || t.n == chunkEntries {
		c := chunkPool.Get().(*chunk)
		if t == nil {
			q.head = c
		} else {
			t.next = c
		}
		q.tail, t = c, c
	}
	t.items[t.n] = it
	t.n++
}

// pushResult says what happened to a pushed entry.
type pushResult uint8

const (
	pushed         pushResult = iota
	pushedAfterGap            // queued, and earlier drops are now reported with it
	droppedFull
	droppedClosed
)

// queued reports whether the entry was queued.
func (r pushResult) queued() bool { return r == pushed || r == pushedAfterGap }

// pushEvent queues ev unless the queue is full or closed. A full queue
// counts a drop that the receiver's next delivery reports.
func (q *queue) pushEvent(ev *event, sids []uint32) pushResult {
	return q.push(ev, sids, true)
}

// offerEvent is pushEvent without counting a drop when full: the caller
// tries another receiver.
func (q *queue) offerEvent(ev *event, sids []uint32) pushResult {
	return q.push(ev, sids, false)
}

func (q *queue) push(ev *event, sids []uint32, countDrop bool) pushResult {
	size := ev.size()
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return droppedClosed
	}
	if q.msgs >= q.maxMsgs || q.bytes+size > q.maxBytes {
		if countDrop {
			q.gap++
		}
		q.mu.Unlock()
		return droppedFull
	}
	res := pushed
	if q.gap > 0 {
		res = pushedAfterGap
	}
	q.appendLocked(queued{ev: ev, sids: sids, dropped: q.gap})
	// Counted before the consumer can see the entry, so that it cannot
	// release the event first.
	ev.retain()
	q.gap = 0
	q.msgs++
	q.bytes += size
	q.mu.Unlock()
	if ev.wake != nil {
		ev.wake.add(q)
	} else {
		q.signal()
	}
	return res
}

// pushControl queues a complete frame; false means the receiver has let too
// many replies pile up (or the queue is closed).
func (q *queue) pushControl(frame []byte) bool {
	q.mu.Lock()
	if q.closed || q.controls >= q.maxControl {
		q.mu.Unlock()
		return false
	}
	q.appendLocked(queued{control: frame})
	q.controls++
	q.mu.Unlock()
	q.signal()
	return true
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take hands the consumer everything queued, in order, as a list of chunks
// (nil when nothing is queued), and whether the queue is closed. The
// consumer gives the batch back with recycle once it is done with it.
func (q *queue) take() (batch *chunk, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	batch = q.head
	q.head, q.tail = nil, nil
	q.msgs, q.bytes, q.controls = 0, 0, 0
	return batch, q.closed
}

// recycle releases the events of a processed batch and returns its chunks
// to the pool, cleared, so nothing they referenced stays reachable.
func (q *queue) recycle(batch *chunk) {
	for c := batch; c != nil; {
		for i := range c.entries() {
			if ev := c.items[i].ev; ev != nil {
				ev.release()
			}
		}
		clear(c.items[:c.n])
		next := c.next
		c.n, c.next = 0, nil
		chunkPool.Put(c)
		c = next
	}
}

// close stops further pushes; the consumer drains what is queued and then
// sees closed.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

// depth returns the number of queued events and their bytes.
func (q *queue) depth() (msgs, bytes int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.msgs, q.bytes
}

// wakeups collects the queues a session's reader has added events to while
// more input is already buffered, and wakes their consumers once, when the
// reader is about to wait for input: one write by each receiver's writer
// per batch of the publisher's frames, not one per event. It belongs to one
// reader goroutine.
type wakeups struct {
	queues []*queue
}

// maxDeferredWakeups bounds the queues one batch defers; past it, a queue
// is woken at once.
const maxDeferredWakeups = 64

func (w *wakeups) add(q *queue) {
	for _, x := range w.queues {
		if x == q {
			return
		}
	}
	if len(w.queues) >= maxDeferredWakeups {
		q.signal()
		return
	}
	w.queues = append(w.queues, q)
}

// flush wakes every collected queue's consumer.
func (w *wakeups) flush() {
	for i, q := range w.queues {
		q.signal()
		w.queues[i] = nil
	}
	w.queues = w.queues[:0]
}
