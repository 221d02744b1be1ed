package topic

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

var noCache = IndexOptions{CacheSize: -1}

// sortedRoute is a compile function that makes results comparable.
func sortedRoute(_ string, matches []string) []string {
	slices.Sort(matches)
	return matches
}

func newStringIndex(opts IndexOptions) *Index[string, []string] {
	return NewIndex(sortedRoute, opts)
}

func checkMatch(t *testing.T, x *Index[string, []string], name string, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := x.Match(name); !slices.Equal(got, want) {
		t.Errorf("Match(%q) = %q, want %q", name, got, want)
	}
}

func TestIndexMatch(t *testing.T)        { testIndexMatch(t, IndexOptions{}) }
func TestIndexMatchNoCache(t *testing.T) { testIndexMatch(t, noCache) }

func testIndexMatch(t *testing.T, opts IndexOptions) {
	x := newStringIndex(opts)
	subs := map[string]string{
		"lit":   "a.b",
		"plus":  "a.+",
		"hash":  "a.#",
		"all":   "#",
		"first": "+.b",
		"sys":   "$SYS.#",
		"b":     "b",
		"deep":  "a.b.c.#",
	}
	for v, f := range subs {
		x.Insert(MustParseFilter(f), v)
	}
	if x.Count() != len(subs) {
		t.Fatalf("Count = %d, want %d", x.Count(), len(subs))
	}
	for range 2 { // the second round is served from the cache, if any
		checkMatch(t, x, "a.b", "lit", "plus", "hash", "all", "first")
		checkMatch(t, x, "a", "hash", "all")
		checkMatch(t, x, "a.b.c", "hash", "all", "deep")
		checkMatch(t, x, "c", "all")
		checkMatch(t, x, "b", "all", "b")
		checkMatch(t, x, "$SYS", "sys")
		checkMatch(t, x, "$SYS.x", "sys")
		checkMatch(t, x, "$SYS.b", "sys") // not "first": "+.b" skips reserved names
		checkMatch(t, x, "$OTHER")
		checkMatch(t, x, "A.b", "all", "first")
	}

	if !x.Remove(MustParseFilter("a.+"), "plus") {
		t.Error("Remove of a present pair returned false")
	}
	if x.Remove(MustParseFilter("a.+"), "plus") {
		t.Error("second Remove returned true")
	}
	if x.Remove(MustParseFilter("a.b"), "plus") {
		t.Error("Remove under the wrong filter returned true")
	}
	if x.Remove(MustParseFilter("x.y.z"), "lit") {
		t.Error("Remove of an unknown filter returned true")
	}
	if x.Remove(Filter{}, "lit") {
		t.Error("Remove of the zero Filter returned true")
	}
	checkMatch(t, x, "a.b", "lit", "hash", "all", "first")
	if x.Count() != len(subs)-1 {
		t.Errorf("Count = %d, want %d", x.Count(), len(subs)-1)
	}
}

func TestIndexSetSemantics(t *testing.T)        { testIndexSetSemantics(t, IndexOptions{}) }
func TestIndexSetSemanticsNoCache(t *testing.T) { testIndexSetSemantics(t, noCache) }

func testIndexSetSemantics(t *testing.T, opts IndexOptions) {
	x := newStringIndex(opts)
	f := MustParseFilter("a.+")
	x.Insert(f, "s")
	gen := x.Stats().Generation
	x.Insert(f, "s")
	x.Insert(MustParseFilter("a.+"), "s") // an equal filter parsed separately
	if x.Count() != 1 {
		t.Errorf("Count = %d after inserting one pair three times", x.Count())
	}
	if x.Stats().Generation != gen {
		t.Error("a duplicate Insert changed the generation")
	}
	checkMatch(t, x, "a.b", "s")

	// The same value under two matching filters is reported twice.
	x.Insert(MustParseFilter("a.b"), "s")
	checkMatch(t, x, "a.b", "s", "s")

	x.Remove(f, "s")
	checkMatch(t, x, "a.b", "s")
	x.Remove(MustParseFilter("a.b"), "s")
	checkMatch(t, x, "a.b")
}

func TestIndexManyValuesOnOneFilter(t *testing.T) {
	testIndexManyValuesOnOneFilter(t, IndexOptions{})
}
func TestIndexManyValuesOnOneFilterNoCache(t *testing.T) {
	testIndexManyValuesOnOneFilter(t, noCache)
}

// testIndexManyValuesOnOneFilter crosses the small-set threshold in both
// directions, with duplicates and removals in a scrambled order.
func testIndexManyValuesOnOneFilter(t *testing.T, opts IndexOptions) {
	x := newStringIndex(opts)
	f := MustParseFilter("events.#")
	const n = 100
	var want []string
	for i := range n {
		v := strconv.Itoa(i)
		x.Insert(f, v)
		x.Insert(f, v)
		want = append(want, v)
	}
	checkMatch(t, x, "events.x", want...)
	for i := 0; i < n; i++ {
		j := (i * 37) % n // 37 is coprime with 100, so this visits every value once
		v := strconv.Itoa(j)
		if !x.Remove(f, v) {
			t.Fatalf("Remove(%s) = false", v)
		}
		want = slices.DeleteFunc(want, func(s string) bool { return s == v })
		if i%7 == 0 || len(want) < 2*smallSet {
			checkMatch(t, x, "events.x", want...)
		}
	}
	if x.Count() != 0 || !x.root.isEmpty() {
		t.Errorf("Count = %d, root empty %v", x.Count(), x.root.isEmpty())
	}
}

func TestIndexPrune(t *testing.T)        { testIndexPrune(t, IndexOptions{}) }
func TestIndexPruneNoCache(t *testing.T) { testIndexPrune(t, noCache) }

func testIndexPrune(t *testing.T, opts IndexOptions) {
	x := newStringIndex(opts)
	filters := []string{"a.b.c", "a.b", "a.+.c.#", "+", "#", "a.#", "$SYS.x.y", "a.b.c.d.e.f"}
	for i, f := range filters {
		for v := range 3 {
			x.Insert(MustParseFilter(f), fmt.Sprint(i, v))
		}
	}
	if x.Count() != 3*len(filters) {
		t.Fatalf("Count = %d", x.Count())
	}

	// Removing a deep filter frees its nodes but keeps the shared prefix.
	for v := range 3 {
		x.Remove(MustParseFilter("a.b.c.d.e.f"), fmt.Sprint(7, v))
	}
	abc := x.root.child("a").child("b").child("c")
	if abc == nil || abc.literal != nil || abc.only != nil {
		t.Errorf("after removing a.b.c.d.e.f, node a.b.c = %+v, want one with no children", abc)
	}

	for i, f := range filters {
		for v := range 3 {
			if i != 7 && !x.Remove(MustParseFilter(f), fmt.Sprint(i, v)) {
				t.Errorf("Remove(%s, %d) = false", f, v)
			}
		}
	}
	if x.Count() != 0 {
		t.Errorf("Count = %d after removing everything", x.Count())
	}
	if !x.root.isEmpty() {
		t.Errorf("root not empty after removing everything: %+v", x.root)
	}
	checkMatch(t, x, "a.b.c")
}

func TestIndexCacheInvalidation(t *testing.T)        { testIndexCacheInvalidation(t, IndexOptions{}) }
func TestIndexCacheInvalidationNoCache(t *testing.T) { testIndexCacheInvalidation(t, noCache) }

func testIndexCacheInvalidation(t *testing.T, opts IndexOptions) {
	x := newStringIndex(opts)
	x.Insert(MustParseFilter("events.process.lifecycle"), "old")
	for range 3 {
		checkMatch(t, x, "events.process.lifecycle", "old")
	}
	wantHits := uint64(2)
	if opts.CacheSize < 0 {
		wantHits = 0
	}
	if got := x.Stats().Hits; got != wantHits {
		t.Errorf("Hits = %d, want %d", got, wantHits)
	}

	// A new subscription is visible to the very next Match of a cached name.
	x.Insert(MustParseFilter("events.#"), "new")
	checkMatch(t, x, "events.process.lifecycle", "old", "new")
	checkMatch(t, x, "events.process.lifecycle", "old", "new")
	x.Remove(MustParseFilter("events.process.lifecycle"), "old")
	checkMatch(t, x, "events.process.lifecycle", "new")
	x.Remove(MustParseFilter("events.#"), "new")
	checkMatch(t, x, "events.process.lifecycle")
}

// A route computed before a change must not be cached as current after it.
// compile runs without the lock, so it can make the change itself, which
// reproduces the race deterministically.
func TestIndexDoesNotCacheOutdatedRoute(t *testing.T) {
	var x *Index[string, []string]
	late := MustParseFilter("a.+")
	var calls atomic.Int32
	x = NewIndex(func(_ string, m []string) []string {
		if calls.Add(1) == 1 {
			x.Insert(late, "late")
		}
		return sortedRoute("", m)
	}, IndexOptions{})
	x.Insert(MustParseFilter("a.b"), "early")

	if got := x.Match("a.b"); !slices.Equal(got, []string{"early"}) {
		t.Fatalf("first Match = %q", got)
	}
	if s := x.Stats(); s.Size != 0 {
		t.Errorf("outdated route was cached: Size = %d", s.Size)
	}
	checkMatch(t, x, "a.b", "early", "late")
	checkMatch(t, x, "a.b", "early", "late")
	if s := x.Stats(); s.Hits != 1 || s.Size != 1 {
		t.Errorf("Stats = %+v, want one hit and one cached name", s)
	}
}

func TestIndexCacheBound(t *testing.T) {
	const size = 16
	x := newStringIndex(IndexOptions{CacheSize: size})
	x.Insert(MustParseFilter("n.+"), "v")
	for i := range 1000 {
		checkMatch(t, x, "n."+strconv.Itoa(i), "v")
		if s := x.Stats(); s.Size > size {
			t.Fatalf("after %d names the cache holds %d, more than %d", i+1, s.Size, size)
		}
	}
	s := x.Stats()
	if s.Size != size || s.Evictions != 1000-size || s.Misses != 1000 {
		t.Errorf("Stats = %+v", s)
	}

	// After a change every entry is stale; new names replace stale ones first.
	x.Insert(MustParseFilter("n.#"), "w")
	for i := range size / 2 {
		checkMatch(t, x, "m"+strconv.Itoa(i))
	}
	if s := x.Stats(); s.Size > size {
		t.Errorf("cache holds %d, more than %d", s.Size, size)
	}
	// The most recently stored names are current and hit.
	hits := x.Stats().Hits
	checkMatch(t, x, "m"+strconv.Itoa(size/2-1))
	if x.Stats().Hits != hits+1 {
		t.Error("the most recently cached name missed")
	}
}

// Sizes that are not a multiple of the set size still give every slot to
// exactly one set, and every slot gets used.
func TestIndexCacheUnevenSets(t *testing.T) {
	for _, size := range []int{1, 3, cacheWays - 1, cacheWays + 1, 13, 100, DefaultCacheSize + 5} {
		c := newRouteCache[int](size)
		next := 0
		for s := range c.sets {
			lo, hi := c.bounds(s)
			if lo != next || hi <= lo || hi-lo > cacheWays {
				t.Fatalf("size %d: set %d has slots [%d, %d), want a non-empty run of at most %d from %d", size, s, lo, hi, cacheWays, next)
			}
			next = hi
		}
		if next != size {
			t.Fatalf("size %d: sets cover %d slots", size, next)
		}

		x := newStringIndex(IndexOptions{CacheSize: size})
		x.Insert(MustParseFilter("n.+"), "v")
		names := 30 * size
		for i := range names {
			checkMatch(t, x, "n."+strconv.Itoa(i), "v")
		}
		if s := x.Stats(); s.Size != size || s.Evictions != uint64(names-size) {
			t.Errorf("size %d: Stats = %+v", size, s)
		}
	}
}

func TestIndexDefaultCacheSize(t *testing.T) {
	x := newStringIndex(IndexOptions{})
	if x.cacheSize != DefaultCacheSize {
		t.Errorf("cacheSize = %d, want %d", x.cacheSize, DefaultCacheSize)
	}
}

func TestIndexCacheDisabled(t *testing.T) {
	x := newStringIndex(noCache)
	x.Insert(MustParseFilter("a"), "v")
	for range 10 {
		checkMatch(t, x, "a", "v")
		checkMatch(t, x, "b")
	}
	if _, ok := x.Cached([]byte("a")); ok {
		t.Error("Cached found a route with the cache disabled")
	}
	if s := x.Stats(); s.Hits != 0 || s.Misses != 20 || s.Size != 0 || s.Evictions != 0 {
		t.Errorf("Stats = %+v", s)
	}
}

func TestIndexCacheHitDoesNotAllocate(t *testing.T) {
	x := newStringIndex(IndexOptions{})
	x.Insert(MustParseFilter("events.#"), "v")
	x.Match(EventsProcessLifecycle)
	if allocs := testing.AllocsPerRun(100, func() { x.Match(EventsProcessLifecycle) }); allocs != 0 {
		t.Errorf("cache hit allocates %v times", allocs)
	}
}

func TestIndexCompileGetsFreshSlice(t *testing.T) {
	var got [][]string
	x := NewIndex(func(_ string, m []string) int { got = append(got, m); return len(m) }, noCache)
	if n := x.Match("a"); n != 0 || got[0] != nil {
		t.Errorf("no match: compile got %q", got[0])
	}
	x.Insert(MustParseFilter("a"), "v")
	x.Match("a")
	x.Match("a")
	got[1][0] = "scribbled"
	if got[2][0] != "v" {
		t.Error("compile's slices share memory with each other or the index")
	}
	x.Match("a")
	if got[3][0] != "v" {
		t.Error("scribbling on compile's slice changed the index")
	}
}

func TestIndexInsertZeroFilterPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Insert of the zero Filter did not panic")
		}
	}()
	newStringIndex(IndexOptions{}).Insert(Filter{}, "v")
}

func TestIndexConcurrent(t *testing.T)        { testIndexConcurrent(t, IndexOptions{}) }
func TestIndexConcurrentNoCache(t *testing.T) { testIndexConcurrent(t, noCache) }
func TestIndexConcurrentTinyCache(t *testing.T) {
	testIndexConcurrent(t, IndexOptions{CacheSize: 2})
}

// testIndexConcurrent churns subscriptions while matching. Stable
// subscriptions must be in every result, and churned ones must never appear
// for names they cannot match.
func testIndexConcurrent(t *testing.T, opts IndexOptions) {
	x := newStringIndex(opts)
	x.Insert(MustParseFilter("events.#"), "stable")
	names := []string{"events.a", "events.b.c", "events", "events.a.b"}
	filters := []Filter{
		MustParseFilter("events.a"), MustParseFilter("events.+"),
		MustParseFilter("events.+.c"), MustParseFilter("events.a.#"),
	}
	iterations := 2000
	if testing.Short() {
		iterations = 200
	}

	var wg sync.WaitGroup
	spawn := func(fn func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn()
		}()
	}
	for w := range 4 {
		spawn(func() {
			v := "churn" + strconv.Itoa(w)
			for i := range iterations {
				f := filters[(i+w)%len(filters)]
				x.Insert(f, v)
				if !x.Remove(f, v) {
					t.Errorf("%s: Remove(%s) = false", v, f)
					return
				}
			}
		})
	}
	for range 4 {
		spawn(func() {
			for i := range iterations {
				name := names[i%len(names)]
				got := x.Match(name)
				if !slices.Contains(got, "stable") {
					t.Errorf("Match(%q) = %q, lost the stable subscription", name, got)
					return
				}
				if name == "events" && len(got) != 1 {
					t.Errorf("Match(events) = %q", got)
					return
				}
			}
		})
	}
	spawn(func() {
		for range iterations {
			x.Stats()
			x.Count()
		}
	})
	wg.Wait()

	if x.Count() != 1 {
		t.Errorf("Count = %d after churn, want 1", x.Count())
	}
	for _, name := range names {
		checkMatch(t, x, name, "stable")
	}
}

func TestInvalidateRecompiles(t *testing.T) {
	calls := 0
	x := NewIndex(func(name string, m []string) string { calls++; return name }, IndexOptions{})
	x.Insert(MustParseFilter("a.#"), "s")
	if got := x.Match("a.b"); got != "a.b" {
		t.Fatalf("compile got name %q", got)
	}
	x.Match("a.b")
	if calls != 1 {
		t.Fatalf("second match should hit the cache; compile ran %d times", calls)
	}
	x.Invalidate()
	x.Match("a.b")
	if calls != 2 {
		t.Fatalf("after Invalidate the route must be recompiled; compile ran %d times", calls)
	}
}

func TestCachedByBytes(t *testing.T) {
	x := NewIndex(func(name string, m []string) string { return name + ":" + strings.Join(m, ",") }, IndexOptions{})
	x.Insert(MustParseFilter("a.#"), "s1")
	if _, ok := x.Cached([]byte("a.b")); ok {
		t.Fatal("a name never matched cannot be cached")
	}
	x.Match("a.b")
	if r, ok := x.Cached([]byte("a.b")); !ok || r != "a.b:s1" {
		t.Fatalf("Cached after Match = %q, %v", r, ok)
	}
	x.Insert(MustParseFilter("a.b"), "s2")
	if _, ok := x.Cached([]byte("a.b")); ok {
		t.Fatal("a route made stale by Insert was returned")
	}
	x.Match("a.b")
	name := []byte("a.b")
	if allocs := testing.AllocsPerRun(100, func() { x.Cached(name) }); allocs != 0 {
		t.Fatalf("Cached allocates %v times", allocs)
	}
}
