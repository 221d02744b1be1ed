package broker

import "sync"

// queue is a receiver's bounded outbound queue. Publishers push without ever
// blocking; one consumer goroutine (a socket writer or the in-process
// dispatcher) takes everything queued at once, so it can batch.
type queue struct {
	maxMsgs, maxBytes int
	// maxControl bounds replies (acks, pongs, errors) separately: they are
	// never dropped, so a client that asks and does not read is closed
	// instead.
	maxControl int
	wake       chan struct{} // capacity 1: a pending wake-up for the consumer

	mu       sync.Mutex // guards the fields below
	items    []queued
	spare    []queued // the consumer's previous batch, reused
	msgs     int      // events in items
	bytes    int      // bytes of events in items
	controls int      // control frames in items
	gap      uint64   // events dropped since the last queued event
	closed   bool
}

// queued is one entry: an event for some of the receiver's subscriptions, or
// a complete control frame.
type queued struct {
	ev      *event
	sids    []uint32
	dropped uint64 // events dropped just before this one
	control []byte
}

func newQueue(maxMsgs, maxBytes, maxControl int) *queue {
	return &queue{maxMsgs: maxMsgs, maxBytes: maxBytes, maxControl: maxControl, wake: make(chan struct{}, 1)}
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
	q.items = append(q.items, queued{ev: ev, sids: sids, dropped: q.gap})
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
	q.items = append(q.items, queued{control: frame})
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

// take hands the consumer everything queued, in order, and whether the
// queue is closed. The returned slice is valid until the next take.
func (q *queue) take() (batch []queued, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	batch, q.items = q.items, q.spare[:0]
	q.spare = nil
	q.msgs, q.bytes, q.controls = 0, 0, 0
	return batch, q.closed
}

// recycle gives a processed batch back for reuse, after clearing the
// references it holds so events can be collected.
func (q *queue) recycle(batch []queued) {
	clear(batch)
	q.mu.Lock()
	if q.spare == nil && cap(batch) <= 4*q.maxMsgs {
		q.spare = batch[:0]
	}
	q.mu.Unlock()
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
