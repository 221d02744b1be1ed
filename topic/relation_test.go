package topic

import (
	"math/rand/v2"
	"testing"
)

func TestOverlapsAndCovers(t *testing.T) {
	cases := []struct {
		f, g             string
		overlaps, covers bool // covers: f covers g
	}{
		{"events.#", "events.process.lifecycle", true, true},
		{"events.#", "events", true, true},
		{"events.#", "events.#", true, true},
		{"events.#", "#", true, false},
		{"#", "events.#", true, true},
		{"#", "$SYS.#", false, false},
		{"$SYS.#", "#", false, false},
		{"+.x", "$SYS.x", false, false},
		{"$SYS.#", "$SYS.broker.stats", true, true},
		{"events.+", "events.process", true, true},
		{"events.+", "events.+", true, true},
		{"events.+", "events.#", true, false},
		{"events.+", "events", false, false},
		{"events.+.lifecycle", "events.process.+", true, false},
		{"events.process.+", "events.+.lifecycle", true, false},
		{"events.network.#", "events.process.#", false, false},
		{"events.network.#", "events.+.x", true, false},
		{"a.b", "a.b.c", false, false},
		{"a.b.#", "a.b", true, true},
		{"a.+.#", "a", false, false},
		{"a.+.#", "a.b", true, true},
		{"control.collector.task.process", "control.collector.task.process", true, true},
		{"control.collector.task.process", "control.collector.task.+", true, false},
	}
	for _, tc := range cases {
		f, g := MustParseFilter(tc.f), MustParseFilter(tc.g)
		if got := f.Overlaps(g); got != tc.overlaps {
			t.Errorf("%q overlaps %q = %v, want %v", tc.f, tc.g, got, tc.overlaps)
		}
		if got := g.Overlaps(f); got != tc.overlaps {
			t.Errorf("overlap is not symmetric for %q, %q", tc.g, tc.f)
		}
		if got := f.Covers(g); got != tc.covers {
			t.Errorf("%q covers %q = %v, want %v", tc.f, tc.g, got, tc.covers)
		}
	}
}

// The relations agree with brute force over every name of a small alphabet.
func TestRelationsAgainstEnumeration(t *testing.T) {
	levels := []string{"a", "b", "$s"}
	var names []string
	var grow func(prefix string, depth int)
	grow = func(prefix string, depth int) {
		if depth == 4 {
			return
		}
		for _, l := range levels {
			if l[0] == '$' && depth > 0 {
				continue
			}
			n := l
			if prefix != "" {
				n = prefix + "." + l
			}
			names = append(names, n)
			grow(n, depth+1)
		}
	}
	grow("", 0)
	filterLevels := []string{"a", "b", "+", "#", "$s"}
	rng := rand.New(rand.NewPCG(1, 2))
	randomFilter := func() Filter {
		n := 1 + rng.IntN(3)
		s := ""
		for i := 0; i < n; i++ {
			l := filterLevels[rng.IntN(len(filterLevels))]
			if l == "#" && i != n-1 || l == "$s" && i != 0 {
				l = "a"
			}
			if i > 0 {
				s += "."
			}
			s += l
		}
		return MustParseFilter(s)
	}
	for i := 0; i < 3000; i++ {
		f, g := randomFilter(), randomFilter()
		overlap, covers := false, true
		for _, n := range names {
			fm, gm := f.Matches(n), g.Matches(n)
			overlap = overlap || fm && gm
			covers = covers && (!gm || fm)
		}
		// Names are at most 4 levels here; filters are at most 3, so a '#'
		// reaching beyond is still witnessed by some name.
		if got := f.Overlaps(g); got != overlap {
			t.Fatalf("%q overlaps %q = %v, enumeration says %v", f, g, got, overlap)
		}
		if got := f.Covers(g); got != covers {
			t.Fatalf("%q covers %q = %v, enumeration says %v", f, g, got, covers)
		}
	}
}
