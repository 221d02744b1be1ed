package topic

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestValueSetAgainstMap grows and shrinks sets across the sizes where the
// representation changes: empty, one value inline, a slice, a slice with a
// position map.
func TestValueSetAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var s valueSet[int]
	ref := map[int]bool{}
	for op := range 20000 {
		// Bias towards adding or removing in phases, so the set sweeps its
		// whole range of sizes rather than hovering around one.
		limit := 3
		if op/2000%2 == 1 {
			limit = 4 * smallSet
		}
		v := r.IntN(limit)
		if r.IntN(2) == 0 {
			if got, want := s.add(v), !ref[v]; got != want {
				t.Fatalf("op %d: add(%d) = %v, want %v", op, v, got, want)
			}
			ref[v] = true
		} else {
			if got, want := s.remove(v), ref[v]; got != want {
				t.Fatalf("op %d: remove(%d) = %v, want %v", op, v, got, want)
			}
			delete(ref, v)
		}
		got := s.appendTo(nil)
		slices.Sort(got)
		var want []int
		for v := range ref {
			want = append(want, v)
		}
		slices.Sort(want)
		if !slices.Equal(got, want) || s.len() != len(want) {
			t.Fatalf("op %d: set holds %v (len %d), want %v", op, got, s.len(), want)
		}
	}
}
