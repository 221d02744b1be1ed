package broker

import (
	"log/slog"
	"sync"
	"time"
)

// queue is a receiver's bounded outbound queue. Publishers push without ever
// blocking (flow control waits between reads, not in a push); one consumer
// goroutine (a socket writer or the in-process dispatcher) takes what is
// queued in slices of up to a few chunks, so it can batch.
//
// Entries live in fixed-size chunks from a shared pool rather than in one
// growing slice: a receiver that falls behind never has its backlog copied
// to a bigger array, and an idle receiver holds no chunk at all.
type queue struct {
	queueLimits
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
	// drained is made by a publisher waiting for the consumer to take the
	// queue (see congested) and closed by that take.
	drained chan struct{}
	// takes counts the consumer's takes, so that a publisher that waited
	// in vain can tell a slow consumer from a stuck one.
	takes uint64
	// ignored is set when a publisher waited and the consumer took nothing:
	// publishers do not wait for it again until it takes something.
	// stuckLogged is set with it and cleared only once the consumer has
	// caught up, so that one episode is logged once.
	ignored, stuckLogged bool
	// log, if set, receives the start of a flow-control episode.
	log *slog.Logger
	// direct, if set, lets a router write to the receiver itself.
	direct directWriter
}

// directWriter is a receiver whose connection a router may write a few
// frames to itself, instead of waking the receiver's writer goroutine:
// when a paced stream of events reaches an idle receiver, the wake-up of
// another goroutine costs more latency than the write.
type directWriter interface {
	// writeNow writes what is queued, if that is little and the
	// connection takes it without waiting. It reports false when the
	// writer goroutine still has something to do, and must be woken.
	writeNow() bool
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
// from the pool is rare next to pushing, small enough (about 16 KiB) that a
// receiver with a few events queued does not pin much.
const chunkEntries = 256

// chunk is a run of queued entries; a queue, and the batch its consumer
// takes, is a list of them.
type chunk struct {
	items [chunkEntries]queued
	n     int
	// bytes and controls are the event bytes and control frames among
	// the chunk's entries, so that a partial take can update the counts.
	bytes, controls int
	next            *chunk
}

var chunkPool = sync.Pool{New: func() any { return new(chunk) }}

// entries returns the chunk's queued entries.
func (c *chunk) entries() []queued { return c.items[:c.n] }

// queueLimits are a receiver queue's bounds, from Config.
type queueLimits struct {
	// maxMsgs and maxBytes bound what is queued: an event past either is
	// dropped.
	maxMsgs, maxBytes int
	// pauseMsgs is the depth at which publishers start to wait (see
	// congested); pauseBytes is half of maxBytes. The mark sits well
	// below maxMsgs: flow control keeps a receiver's backlog short (and
	// in the cache), and the room above it is for a receiver that stalls
	// longer than publishers wait.
	pauseMsgs int
}

// pauseBytes is the bytes mark of flow control.
func (l queueLimits) pauseBytes() int { return l.maxBytes / 2 }

func newQueue(limits queueLimits, maxControl int) *queue {
	return &queue{queueLimits: limits, maxControl: maxControl, wake: make(chan struct{}, 1)}
}

// underMarkLocked reports whether the queue is below both flow-control marks;
// q.mu must be held.
func (q *queue) underMarkLocked() bool {
	return q.msgs < q.pauseMsgs && q.bytes < q.pauseBytes()
}

// appendLocked adds an entry of size event bytes at the tail; q.mu must
// be held.
func (q *queue) appendLocked(it queued, size int) {
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
	t.bytes += size
	if it.control != nil {
		t.controls++
	}
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
	return q.push(ev, sids, true, true)
}

// offerEvent is pushEvent without counting a drop when full: the caller
// tries another receiver. Unless anyRoom is set, it also refuses while the
// queue is at its flow-control mark (a consumer taken for stuck is always
// there: only a take clears that).
func (q *queue) offerEvent(ev *event, sids []uint32, anyRoom bool) pushResult {
	return q.push(ev, sids, false, anyRoom)
}

func (q *queue) push(ev *event, sids []uint32, countDrop, anyRoom bool) pushResult {
	// The subscription ids count too: an event whose route was not cached
	// holds its own array of them, up to one per subscription.
	size := ev.size() + 4*len(sids)
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return droppedClosed
	}
	if !anyRoom && !q.underMarkLocked() {
		q.mu.Unlock()
		return droppedFull
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
	q.appendLocked(queued{ev: ev, sids: sids, dropped: q.gap}, size)
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
	q.appendLocked(queued{control: frame}, 0)
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

// Bounds of one take: the consumer comes back for the rest after writing
// this much, which lets publishers waiting for room (see congested) go on
// without waiting for the whole backlog to be written.
const (
	maxTakeChunks = 4
	maxTakeBytes  = flushThreshold
)

// take hands the consumer the oldest queued entries, in order, as a list of
// chunks (nil when nothing is queued): whole chunks, up to maxTakeChunks
// and about maxTakeBytes. It also reports whether more is queued, and
// whether the queue is closed with nothing left. The consumer gives the
// batch back with recycle once it is done with it.
func (q *queue) take() (batch *chunk, more, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	batch = q.takeLocked()
	return batch, q.head != nil, q.closed && q.head == nil
}

// takeFew takes everything queued if that is at most maxEntries events of
// at most maxBytes, and no control frame, and nothing otherwise: for a
// router that writes a few frames to an idle receiver itself (see
// directWriter). A closed queue is left to its consumer.
func (q *queue) takeFew(maxEntries, maxBytes int) (*chunk, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	// Control frames are left to the writer: pushControl has woken it,
	// and a reply may be large.
	if n := q.msgs; n == 0 || n > maxEntries || q.bytes > maxBytes || q.controls > 0 || q.closed {
		return nil, false
	}
	return q.takeLocked(), true
}

// busy reports whether the consumer has something to do: entries queued,
// or a close to see.
func (q *queue) busy() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.head != nil || q.closed
}

// takeLocked detaches the oldest entries, within the bounds of one take;
// q.mu must be held.
func (q *queue) takeLocked() (batch *chunk) {
	// Taking anything proves the consumer alive: worth waiting for again.
	q.ignored = false
	if q.stuckLogged && 4*q.msgs <= q.pauseMsgs && 4*q.bytes <= q.pauseBytes() {
		q.stuckLogged = false // caught up: the episode is over
	}
	q.takes++
	var last *chunk
	chunks, bytes := 0, 0
	for c := q.head; c != nil && chunks < maxTakeChunks && bytes < maxTakeBytes; c = c.next {
		last = c
		chunks++
		bytes += c.bytes
		q.msgs -= c.n - c.controls
		q.bytes -= c.bytes
		q.controls -= c.controls
	}
	if last != nil {
		batch, q.head = q.head, last.next
		last.next = nil
		if q.head == nil {
			q.tail = nil
		}
	}
	if q.underMarkLocked() {
		q.releaseWaiters()
	}
	return batch
}

// releaseWaiters lets publishers waiting on the queue go on; q.mu must be
// held.
func (q *queue) releaseWaiters() {
	if q.drained != nil {
		close(q.drained)
		q.drained = nil
	}
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
		c.n, c.bytes, c.controls, c.next = 0, 0, 0, nil
		chunkPool.Put(c)
		c = next
	}
}

// Flow control. A publishing session that has queued events for a receiver
// whose queue is at or above its mark (Config.FlowControlMessages events,
// or half of Config.QueueBytes) waits, before reading more input, until
// that receiver's consumer has taken enough to bring it under the mark, for
// at most Config.FlowControlWait. A consumer that takes nothing at all in
// that time is ignored by every publisher until it takes something again,
// so a stuck receiver costs publishers one wait, not one per event; the
// queue's room above the mark is what it then has before events drop.

// congested returns a channel closed when a take by the consumer leaves
// the queue under its mark, and the consumer's progress so far for giveUp,
// if the queue is at or above the mark now and its consumer is not
// ignored; otherwise a nil channel.
func (q *queue) congested() (drained <-chan struct{}, takes uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.ignored || q.underMarkLocked() {
		return nil, 0
	}
	if q.drained == nil {
		q.drained = make(chan struct{})
	}
	return q.drained, q.takes
}

// giveUp marks the consumer as stuck unless it has taken anything since
// congested reported takes. It reports whether it did, and whether this
// began an episode, to be logged.
func (q *queue) giveUp(takes uint64) (gaveUp, episode bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.takes != takes || q.ignored || q.closed {
		return false, false
	}
	q.ignored = true
	episode = !q.stuckLogged
	q.stuckLogged = true
	return true, episode
}

// close stops further pushes; the consumer drains what is queued and then
// sees closed.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.releaseWaiters()
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
// per batch of the publisher's frames, not one per event. It is also where
// the reader applies flow control to those receivers. It belongs to one
// reader goroutine.
type wakeups struct {
	queues []*queue
	waits  []flowWait  // pace's, kept for reuse
	timer  *time.Timer // for flow-control waits, made by the first
}

// flowWait is a congested queue a publisher waits for.
type flowWait struct {
	q       *queue
	drained <-chan struct{}
	takes   uint64 // the consumer's progress when the wait began
}

// maxDeferredWakeups bounds the queues one batch defers; past it, a queue
// is woken at once (and left out of flow control).
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

// flush wakes every collected queue's consumer. With wait > 0 it then
// applies flow control: it waits, up to wait in all, for the consumer of
// each of those queues that is at or above its mark to bring it under, and
// gives up on those that took nothing meanwhile.
func (w *wakeups) flush(wait time.Duration, c *counters) {
	for _, q := range w.queues {
		if q.direct != nil && q.direct.writeNow() {
			continue
		}
		q.signal()
	}
	if wait > 0 {
		w.pace(wait, c)
	}
	clear(w.queues)
	w.queues = w.queues[:0]
}

func (w *wakeups) pace(wait time.Duration, c *counters) {
	// Every congested queue's progress is noted before any wait, so that
	// each consumer is judged over the whole wait, however long the
	// queues before it took.
	w.waits = w.waits[:0]
	for _, q := range w.queues {
		if drained, takes := q.congested(); drained != nil {
			w.waits = append(w.waits, flowWait{q, drained, takes})
		}
	}
	if len(w.waits) == 0 {
		return
	}
	c.flowWaits.Add(1)
	deadline := time.Now().Add(wait)
	for i := range w.waits {
		fw := &w.waits[i]
		if w.await(fw.drained, time.Until(deadline)) {
			continue
		}
		if gaveUp, episode := fw.q.giveUp(fw.takes); gaveUp {
			c.flowGiveUps.Add(1)
			if episode && fw.q.log != nil {
				msgs, bytes := fw.q.depth()
				fw.q.log.Warn("receiver took nothing from its queue past the flow-control mark: publishers stop waiting for it until it takes again",
					"flow_control_wait", wait, "queued_messages", msgs, "queued_bytes", bytes)
			}
		}
	}
	clear(w.waits)
}

// await reports whether drained is closed within d.
func (w *wakeups) await(drained <-chan struct{}, d time.Duration) bool {
	select {
	case <-drained:
		return true
	default:
	}
	if d <= 0 {
		return false
	}
	if w.timer == nil {
		w.timer = time.NewTimer(d)
	} else {
		w.timer.Reset(d)
	}
	select {
	case <-drained:
		w.timer.Stop()
		return true
	case <-w.timer.C:
		return false
	}
}
