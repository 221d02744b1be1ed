package topic

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

var diffSeed = flag.Uint64("topic.seed", 0, "extra seed for TestIndexDifferential (default: time-based)")

// naiveIndex is the obviously correct reference: a set of pairs, matched by
// trying every filter.
type naiveIndex struct {
	pairs map[naivePair]Filter
}

type naivePair struct {
	filter string
	v      int
}

func (n *naiveIndex) insert(f Filter, v int) { n.pairs[naivePair{f.String(), v}] = f }

func (n *naiveIndex) remove(f Filter, v int) bool {
	p := naivePair{f.String(), v}
	_, ok := n.pairs[p]
	delete(n.pairs, p)
	return ok
}

func (n *naiveIndex) match(name string) []int {
	var out []int
	for p, f := range n.pairs {
		if f.Matches(name) {
			out = append(out, p.v)
		}
	}
	slices.Sort(out)
	return out
}

func sortedInts(_ string, m []int) []int {
	slices.Sort(m)
	return m
}

// A small alphabet makes filters and names collide often.
var diffLevels = []string{"a", "b", "c"}

func randomName(r *rand.Rand) string {
	n := 1 + r.IntN(4)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = diffLevels[r.IntN(len(diffLevels))]
	}
	if r.IntN(6) == 0 {
		parts[0] = "$S"
	}
	return strings.Join(parts, ".")
}

func randomFilter(r *rand.Rand) Filter {
	n := 1 + r.IntN(4)
	parts := make([]string, n)
	for i := range parts {
		if r.IntN(3) == 0 {
			parts[i] = singleWildcard
		} else {
			parts[i] = diffLevels[r.IntN(len(diffLevels))]
		}
	}
	if r.IntN(6) == 0 {
		parts[0] = "$S"
	}
	if r.IntN(3) == 0 {
		parts[n-1] = multiWildcard
	}
	return MustParseFilter(strings.Join(parts, "."))
}

func TestIndexDifferential(t *testing.T)        { testIndexDifferential(t, IndexOptions{}) }
func TestIndexDifferentialNoCache(t *testing.T) { testIndexDifferential(t, noCache) }
func TestIndexDifferentialTinyCache(t *testing.T) {
	testIndexDifferential(t, IndexOptions{CacheSize: 3})
}

func testIndexDifferential(t *testing.T, opts IndexOptions) {
	seed := *diffSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	for _, s := range []uint64{1, seed} {
		t.Run(fmt.Sprint("seed=", s), func(t *testing.T) {
			if err := runDifferential(s, opts, 5000); err != nil {
				t.Fatalf("%v (rerun with -topic.seed=%d)", err, s)
			}
		})
	}
}

// runDifferential applies random operations to an Index and a naiveIndex
// and returns the first disagreement.
func runDifferential(seed uint64, opts IndexOptions, ops int) error {
	r := rand.New(rand.NewPCG(seed, seed))
	x := NewIndex(sortedInts, opts)
	ref := &naiveIndex{pairs: make(map[naivePair]Filter)}
	var inserted []naivePair // may hold removed pairs; removing them again is a useful test
	for op := range ops {
		switch k := r.IntN(10); {
		case k < 4:
			f, v := randomFilter(r), r.IntN(6)
			x.Insert(f, v)
			ref.insert(f, v)
			inserted = append(inserted, naivePair{f.String(), v})
		case k < 6:
			f, v := randomFilter(r), r.IntN(6)
			if len(inserted) > 0 && r.IntN(4) != 0 {
				p := inserted[r.IntN(len(inserted))]
				f, v = MustParseFilter(p.filter), p.v
			}
			if got, want := x.Remove(f, v), ref.remove(f, v); got != want {
				return fmt.Errorf("op %d: Remove(%s, %d) = %v, want %v", op, f, v, got, want)
			}
		default:
			name := randomName(r)
			if got, want := x.Match(name), ref.match(name); !slices.Equal(got, want) {
				return fmt.Errorf("op %d: Match(%q) = %v, want %v", op, name, got, want)
			}
		}
		if x.Count() != len(ref.pairs) {
			return fmt.Errorf("op %d: Count = %d, want %d", op, x.Count(), len(ref.pairs))
		}
	}
	for p, f := range ref.pairs {
		if !x.Remove(f, p.v) {
			return fmt.Errorf("final Remove(%s, %d) = false", f, p.v)
		}
	}
	if x.Count() != 0 || !x.root.isEmpty() {
		return fmt.Errorf("after removing everything: Count %d, root %+v", x.Count(), x.root)
	}
	return nil
}
