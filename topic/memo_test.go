package topic

import (
	"slices"
	"strconv"
	"sync"
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

// Routes from memos stay current while other goroutines change the index:
// once a change returns, no memo answers with a route from before it.
func TestMemoConcurrent(t *testing.T) {
	x := newStringIndex(IndexOptions{})
	x.Insert(MustParseFilter("events.#"), "stable")
	iterations := 2000
	if testing.Short() {
		iterations = 200
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := NewMemo(x)
			name := "events.w" + strconv.Itoa(w)
			own := MustParseFilter(name)
			for i := range iterations {
				// This goroutine's own subscription comes and goes; its memo
				// must see each change at once, whatever the others do.
				subscribed := i%2 == 1
				if subscribed {
					x.Insert(own, name)
				}
				route, ok := m.Cached([]byte(name))
				if !ok {
					route = m.Match(name)
				}
				if want := subscribed; slices.Contains(route, name) != want || !slices.Contains(route, "stable") {
					t.Errorf("%s: route %q, subscribed %v", name, route, subscribed)
					return
				}
				if subscribed && !x.Remove(own, name) {
					t.Errorf("%s: Remove = false", name)
					return
				}
			}
			m.Flush()
		}()
	}
	wg.Wait()
}
