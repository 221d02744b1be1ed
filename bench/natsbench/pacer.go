package main

import "time"

// Pacers: how the latency publisher waits for each message's due time.
const (
	pacerHR    = "hrtimer" // the kernel's high-resolution timer (Linux), else Go's timers
	pacerTimer = "timer"   // Go's timers, as a plain Go program would
)

// waiter waits until message i is due. A sender that falls behind sends
// at once until it has caught up, so the average rate holds; payloads
// carry the actual send time.
type waiter interface{ wait(i int) }

// newWaiter returns the pacer kind for interval.
func newWaiter(kind string, interval time.Duration) waiter {
	if kind == pacerTimer {
		return &timerPacer{start: time.Now(), interval: interval}
	}
	return newHRPacer(interval)
}

// timerPacer waits with time.Sleep. When a process is otherwise idle Go's
// timers fire on about 1 ms ticks here, so at 10,000 msg/s it sends in
// bursts of about ten.
type timerPacer struct {
	start    time.Time
	interval time.Duration
}

func (p *timerPacer) wait(i int) {
	if d := time.Until(p.start.Add(time.Duration(i) * p.interval)); d > 0 {
		time.Sleep(d)
	}
}
