//go:build unix

package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/daemoneye/eventbus/internal/benchfmt"
)

// The payload starts with a header; the rest is zeros.
//
//	[0:8]   u64 LE: publisher index << seqBits | sequence number (from 0)
//	[8:16]  i64 LE: send time, Unix nanoseconds
const (
	payloadHeader = 16
	seqBits       = 48
	seqMask       = 1<<seqBits - 1
	maxPublishers = 1 << (64 - seqBits)
)

// stamp writes the header of message seq of publisher index into p.
func stamp(p []byte, index int, seq int64, sentNs int64) {
	binary.LittleEndian.PutUint64(p[0:8], uint64(index)<<seqBits|uint64(seq)&seqMask)
	binary.LittleEndian.PutUint64(p[8:16], uint64(sentNs))
}

// tally counts what a receiver gets. observe runs on one goroutine; the
// atomics may be read from another while it does, the rest only after it
// has stopped.
type tally struct {
	received atomic.Int64
	lastNs   atomic.Int64
	// movedNs is when await last saw received change, to within pollEvery:
	// the end of a run that lost messages, when latencies are not recorded.
	movedNs atomic.Int64

	expect  int64 // messages the receiver waits for
	firstNs int64
	next    []uint64 // per publisher index: the next sequence number expected
	gaps    int64
	dups    int64
	dropped int64
	bad     int64
	clamped int64
	hist    *hdrhistogram.Histogram // nil unless latencies are recorded
}

func newTally(latency bool, expect int64) *tally {
	t := &tally{expect: expect}
	if latency {
		t.hist = benchfmt.NewHistogram()
	}
	return t
}

// needsClock reports whether the next message's observe needs the time it
// arrived: always when recording latencies, otherwise only for the first
// and the last expected. Reading the clock costs as much as a good part of
// a delivery, and a throughput counter (like natsbench's) does not do it
// per message.
func (t *tally) needsClock() bool {
	if t.hist != nil {
		return true
	}
	n := t.received.Load()
	return n == 0 || n+1 == t.expect
}

// now returns the time for the next observe: the clock when needsClock,
// else zero.
func (t *tally) now() int64 {
	if t.needsClock() {
		return time.Now().UnixNano()
	}
	return 0
}

// observe counts one message received at nowNs (zero: not known); dropped
// is what the sender (the broker) says it dropped just before it.
func (t *tally) observe(payload []byte, dropped uint64, nowNs int64) {
	if nowNs != 0 {
		if t.firstNs == 0 {
			t.firstNs = nowNs
		}
		t.lastNs.Store(nowNs)
	}
	t.dropped += int64(dropped)
	if len(payload) < payloadHeader {
		t.bad++
		t.received.Add(1)
		return
	}
	word := binary.LittleEndian.Uint64(payload[0:8])
	pub, seq := word>>seqBits, word&seqMask
	if pub >= uint64(len(t.next)) {
		// At most maxPublishers entries: pub comes from 16 bits.
		t.next = append(t.next, make([]uint64, pub+1-uint64(len(t.next)))...)
	}
	switch next := t.next[pub]; {
	case seq == next:
		t.next[pub] = seq + 1
	case seq > next:
		t.gaps += int64(seq - next)
		t.next[pub] = seq + 1
	default:
		t.dups++
	}
	if t.hist != nil {
		sent := int64(binary.LittleEndian.Uint64(payload[8:16]))
		if benchfmt.RecordNanos(t.hist, nowNs-sent) {
			t.clamped++
		}
	}
	t.received.Add(1)
}

// result reports the tally; call it once observe no longer runs.
func (t *tally) result() (*roleResult, error) {
	r := &roleResult{
		Received: t.received.Load(),
		FirstNs:  t.firstNs,
		LastNs:   t.lastNs.Load(),
		Gaps:     t.gaps,
		Dups:     t.dups,
		Dropped:  t.dropped,
		Bad:      t.bad,
		Clamped:  t.clamped,
	}
	if t.hist == nil && r.Received != t.expect {
		// The clock was not read for the last message that came.
		r.LastNs = max(r.LastNs, t.movedNs.Load())
	}
	if t.hist != nil {
		enc, err := t.hist.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		if err != nil {
			return nil, fmt.Errorf("encode histogram: %w", err)
		}
		r.Hist = string(enc)
	}
	return r, nil
}

// pollEvery is how often a receiver checks whether it is finished, and so
// how precisely it knows when the last message of a lossy run came.
const pollEvery = time.Millisecond

// await returns once the receiver has expect messages, or once the
// parent said the senders are done and no message came for quiet, or when
// ended is closed (the stream ended), reporting progress meanwhile.
func (t *tally) await(ctx context.Context, cio *childIO, expect int64, quiet time.Duration, ended <-chan struct{}) error {
	stop := cio.reportProgress(t.received.Load)
	defer stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	done := cio.doneCh
	var doneNs int64 // when the senders were done
	var seen int64
	for t.received.Load() < expect {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-ended:
			return nil
		case <-done:
			done, doneNs = nil, time.Now().UnixNano()
		case now := <-tick.C:
			if n := t.received.Load(); n != seen {
				seen = n
				t.movedNs.Store(now.UnixNano())
			}
			if doneNs != 0 && now.UnixNano()-max(doneNs, t.lastNs.Load(), t.movedNs.Load()) > int64(quiet) {
				return nil
			}
		}
	}
	return nil
}
