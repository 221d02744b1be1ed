package topic

// Memo remembers the route of the last name one goroutine routed through an
// Index, for as long as the index does not change. A publisher usually
// sends a stream of events on one topic: for the second and later, the
// memo answers with a comparison of the name and one atomic load, without
// the hash, the read lock and the shared hit counter of the index's cache,
// whose cache lines every publishing goroutine would otherwise pass
// between cores on every event.
//
// A Memo is for one goroutine at a time. Its owner calls Flush now and
// then, at the latest before dropping the memo: between bursts of routing,
// say, when the owner is about to wait. Flush adds the memo's hits to the
// index's count, so that the index's statistics stay true, and lets go of
// an outdated route.
type Memo[V comparable, R any] struct {
	x     *Index[V, R]
	name  string
	route R
	gen   uint64 // the index's generation the route is current for
	valid bool
	hits  uint64 // not yet added to the index's
}

// NewMemo returns an empty memo for x.
func NewMemo[V comparable, R any](x *Index[V, R]) *Memo[V, R] {
	return &Memo[V, R]{x: x}
}

// Cached is Index.Cached, answered from the memo when name is the name it
// remembers and the index is unchanged since; a route found in the index's
// cache is remembered.
func (m *Memo[V, R]) Cached(name []byte) (R, bool) {
	if m.valid && string(name) == m.name && m.gen == m.x.gen.Load() {
		m.hits++
		return m.route, true
	}
	route, key, gen, ok := m.x.cached(name)
	if ok {
		m.remember(key, route, gen)
	}
	return route, ok
}

// Match is Index.Match, whose route the memo remembers. The memo keeps
// name: it must not alias memory the caller reuses.
func (m *Memo[V, R]) Match(name string) R {
	// Read before the lookup: a change in between leaves the memo stale,
	// never an outdated route stamped as current.
	gen := m.x.gen.Load()
	route := m.x.Match(name)
	m.remember(name, route, gen)
	return route
}

// remember keeps route for name, current at gen. A memo is a cache too, so
// an index made without a cache (to measure the trie, or to save its
// memory) gets no memo either.
func (m *Memo[V, R]) remember(name string, route R, gen uint64) {
	if m.x.cacheSize == 0 {
		return
	}
	m.name, m.route, m.gen, m.valid = name, route, gen, true
}

// Flush adds the memo's hits to the index's statistics, and forgets a
// route the index has changed since: routes reference what the caller
// compiled them from (the broker's, receiving sessions), which an idle
// owner's memo would otherwise keep reachable for as long as it lives.
func (m *Memo[V, R]) Flush() {
	if m.hits > 0 {
		m.x.hits.Add(m.hits)
		m.hits = 0
	}
	if m.valid && m.gen != m.x.gen.Load() {
		var zero R
		m.name, m.route, m.valid = "", zero, false
	}
}
