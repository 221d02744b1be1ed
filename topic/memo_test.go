package topic

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

func TestMemoAnswersUntilTheIndexChanges(t *testing.T) {
	calls := 0
	x := NewIndex(func(name string, m []string) []string { calls++; slices.Sort(m); return m }, IndexOptions{})
	x.Insert(MustParseFilter("a.#"), "s1")
	m := NewMemo(x)
	if _, ok := m.Cached([]byte("a.b")); ok {
		t.Fatal("Cached found a name never matched")
	}
	if got := m.Match("a.b"); !slices.Equal(got, []string{"s1"}) {
		t.Fatalf("Match = %q", got)
	}
	for range 3 {
		if got, ok := m.Cached([]byte("a.b")); !ok || !slices.Equal(got, []string{"s1"}) {
			t.Fatalf("Cached after Match = %q, %v", got, ok)
		}
	}
	if calls != 1 {
		t.Fatalf("compile ran %d times, want 1", calls)
	}
	// The index's hits are counted only by Flush.
	if s := x.Stats(); s.Hits != 0 {
		t.Fatalf("hits before Flush = %d, want 0", s.Hits)
	}
	m.Flush()
	if s := x.Stats(); s.Hits != 3 {
		t.Fatalf("hits after Flush = %d, want 3", s.Hits)
	}

	x.Insert(MustParseFilter("a.b"), "s2")
	if _, ok := m.Cached([]byte("a.b")); ok {
		t.Fatal("the memo answered after Insert changed the route")
	}
	if got := m.Match("a.b"); !slices.Equal(got, []string{"s1", "s2"}) {
		t.Fatalf("Match after Insert = %q", got)
	}
	x.Invalidate()
	if _, ok := m.Cached([]byte("a.b")); ok {
		t.Fatal("the memo answered after Invalidate")
	}
}

// A name other than the remembered one goes to the index's cache, and the
// memo then remembers that name instead.
func TestMemoFallsBackToTheIndexCache(t *testing.T) {
	x := newStringIndex(IndexOptions{})
	x.Insert(MustParseFilter("a.+"), "s")
	x.Match("a.b")
	x.Match("a.c")
	m := NewMemo(x)
	for _, name := range []string{"a.b", "a.c", "a.b", "a.c"} {
		if got, ok := m.Cached([]byte(name)); !ok || !slices.Equal(got, []string{"s"}) {
			t.Fatalf("Cached(%s) = %q, %v", name, got, ok)
		}
	}
	if _, ok := m.Cached([]byte("a.d")); ok {
		t.Fatal("Cached found a name the index never routed")
	}
	m.Flush()
	if s := x.Stats(); s.Hits != 4 {
		t.Fatalf("hits = %d, want 4: each lookup above went to the index's cache", s.Hits)
	}
}

func TestMemoOffWithTheCache(t *testing.T) {
	x := newStringIndex(noCache)
	x.Insert(MustParseFilter("a"), "v")
	m := NewMemo(x)
	m.Match("a")
	if _, ok := m.Cached([]byte("a")); ok {
		t.Fatal("the memo answered with the index's cache disabled")
	}
}

func TestMemoHitDoesNotAllocate(t *testing.T) {
	x := newStringIndex(IndexOptions{})
	x.Insert(MustParseFilter("events.#"), "v")
	m := NewMemo(x)
	m.Match(EventsProcessLifecycle)
	name := []byte(EventsProcessLifecycle)
	if allocs := testing.AllocsPerRun(100, func() { m.Cached(name) }); allocs != 0 {
		t.Errorf("a memo hit allocates %v times", allocs)
	}
}

// Flush lets go of a route the index has changed since, so that an idle
// owner's memo does not keep it reachable.
func TestMemoFlushForgetsAnOutdatedRoute(t *testing.T) {
	x := newStringIndex(IndexOptions{})
	x.Insert(MustParseFilter("a"), "v")
	m := NewMemo(x)
	m.Match("a")
	m.Flush()
	if !m.valid {
		t.Fatal("Flush forgot a current route")
	}
	x.Insert(MustParseFilter("b"), "w")
	m.Flush()
	if m.valid || m.route != nil || m.name != "" {
		t.Fatalf("after a change and Flush the memo still holds %q for %q", m.route, m.name)
	}
}

// Routes from memos stay current while another goroutine changes the index:
// once an Insert has returned, no memo answers with a route from before it.
func TestMemoConcurrent(t *testing.T) {
	x := newStringIndex(IndexOptions{})
	const name = "events.process.lifecycle"
	x.Insert(MustParseFilter("events.#"), "stable")
	inserts := 500
	if testing.Short() {
		inserts = 100
	}
	var done atomic.Int64 // inserts that have returned
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for k := range inserts {
			// Every filter matches name: each insert lengthens its route.
			x.Insert(MustParseFilter("events.process.+"), "writer"+strconv.Itoa(k))
			done.Store(int64(k + 1))
		}
	}()
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := NewMemo(x)
			defer m.Flush()
			for i := 0; ; i++ {
				n := done.Load()
				route, ok := m.Cached([]byte(name))
				if !ok {
					route = m.Match(name)
				}
				if int64(len(route)) < n+1 {
					t.Errorf("reader %d: route of %d values after %d inserts returned", r, len(route), n)
					return
				}
				if n == int64(inserts) && i > 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
}
