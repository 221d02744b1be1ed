package benchfmt

import (
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds for latencies recorded in nanoseconds: 1 µs to 10 s, 3
// significant digits.
const (
	HistogramLowest  = int64(time.Microsecond)
	HistogramHighest = int64(10 * time.Second)
	HistogramDigits  = 3
)

// Ladder is the fixed list of percentiles in Latency.Percentiles.
var Ladder = []float64{0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100}

// NewHistogram returns an empty histogram for latencies in nanoseconds, with
// the bounds above.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(HistogramLowest, HistogramHighest, HistogramDigits)
}

// RecordNanos records a latency in h, clamped to the histogram's range; it
// reports whether the value had to be clamped.
func RecordNanos(h *hdrhistogram.Histogram, ns int64) (clamped bool) {
	switch {
	case ns < 0:
		ns, clamped = 0, true
	case ns > h.HighestTrackableValue():
		ns, clamped = h.HighestTrackableValue(), true
	}
	_ = h.RecordValue(ns) // within range: cannot fail
	return clamped
}

// LatencyOf reads the percentiles of h, whose values are nanoseconds, in
// microseconds rounded to the nanosecond.
func LatencyOf(h *hdrhistogram.Histogram) Latency {
	us := func(p float64) float64 {
		return math.Round(float64(h.ValueAtQuantile(p))) / 1e3
	}
	l := Latency{
		P50:         us(50),
		P90:         us(90),
		P99:         us(99),
		P999:        us(99.9),
		Max:         us(100),
		Percentiles: make([][2]float64, len(Ladder)),
	}
	for i, p := range Ladder {
		l.Percentiles[i] = [2]float64{p, us(p)}
	}
	return l
}
