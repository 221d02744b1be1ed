package client

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	for _, cfg := range []Reconnect{
		{},
		{InitialDelay: time.Millisecond, MaxDelay: time.Second, Multiplier: 1.5, Jitter: 1},
		{InitialDelay: time.Second, MaxDelay: time.Second, Multiplier: 10, Jitter: -1},
		{InitialDelay: 3 * time.Millisecond, MaxDelay: 10 * time.Minute, Multiplier: 1},
	} {
		r, err := cfg.withDefaults()
		if err != nil {
			t.Fatalf("%+v: %v", cfg, err)
		}
		var prev time.Duration
		for n := range 200 {
			nominal := r.backoff(n, 0.5) // no jitter at the midpoint
			if nominal < prev {
				t.Errorf("%+v: attempt %d waits %v, less than the %v before", r, n, nominal, prev)
			}
			prev = nominal
			lo := time.Duration(float64(nominal) * (1 - r.Jitter))
			hi := min(time.Duration(float64(nominal)*(1+r.Jitter)), r.MaxDelay)
			for _, u := range []float64{0, 0.001, 0.25, 0.75, 0.999999} {
				d := r.backoff(n, u)
				if d < lo-1 || d > hi+1 || d > r.MaxDelay || d < 0 {
					t.Fatalf("%+v: attempt %d, u %v: %v outside [%v, %v]", r, n, u, d, lo, hi)
				}
			}
		}
		if first := r.backoff(0, 0.5); first != r.InitialDelay {
			t.Errorf("%+v: the first wait is %v, want InitialDelay", r, first)
		}
		if r.Multiplier > 1 && prev != r.MaxDelay {
			t.Errorf("%+v: the wait levels off at %v, want MaxDelay", r, prev)
		}
	}

	// The defaults, spelled out.
	r, _ := Reconnect{}.withDefaults()
	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 5000, 5000}
	for n, w := range want {
		if d := r.backoff(n, 0.5); d != w*time.Millisecond {
			t.Errorf("default attempt %d waits %v, want %v", n, d, w*time.Millisecond)
		}
	}
	if d := r.backoff(0, 0); d != 80*time.Millisecond {
		t.Errorf("default first wait at the low end of the jitter: %v, want 80ms", d)
	}
	if d := r.backoff(10, 0.999999); d != r.MaxDelay {
		t.Errorf("a late wait at the high end of the jitter: %v, want MaxDelay %v", d, r.MaxDelay)
	}
	// A huge attempt number does not overflow.
	if d := r.backoff(1<<30, 0.5); d != r.MaxDelay {
		t.Errorf("attempt 2^30 waits %v", d)
	}
}
