package topic

import (
	"sync"
	"sync/atomic"
)

// DefaultCacheSize is how many names an [Index] caches routes for when
// [IndexOptions].CacheSize is 0.
const DefaultCacheSize = 4096

// IndexOptions configures an [Index].
type IndexOptions struct {
	// CacheSize is the most names whose routes the index caches. 0 means
	// DefaultCacheSize; a negative value disables the cache.
	CacheSize int
}

// IndexStats is a snapshot of an [Index]'s counters.
type IndexStats struct {
	Hits       uint64 // Match calls answered from the cache
	Misses     uint64 // Match calls that walked the trie
	Evictions  uint64 // cache entries dropped to make room for others
	Size       int    // names in the cache, including stale ones not yet dropped
	Generation uint64 // changes made to the index so far
}

// Index maps filters to values and answers which values a published name
// reaches. It is safe for concurrent use.
//
// V is the value attached to a filter; the broker uses its subscription type.
// R is the route the caller compiles from the values a name matches. The index
// caches R per name, so routing a name that was recently published costs a
// hash and a scan of a few cache slots under a read lock.
//
// Any Insert or Remove that changes the index invalidates the whole cache in
// constant time, by advancing a generation number that cached routes are
// stamped with.
type Index[V comparable, R any] struct {
	compile   func(name string, matches []V) R // immutable
	cacheSize int                              // immutable; 0 when the cache is disabled

	mu    sync.RWMutex
	root  *node[V] // guarded by mu
	count int      // guarded by mu; (filter, value) pairs
	// gen is advanced, with mu held for writing, by every change to the
	// trie; it is atomic so that a Memo can check it without the lock.
	gen       atomic.Uint64
	cache     routeCache[R] // empty when the cache is disabled; see routeCache
	evictions uint64        // guarded by mu; written only with mu held for writing

	// Counted by concurrent readers holding only the read lock.
	hits, misses atomic.Uint64
}

// NewIndex returns an empty index that builds routes with compile.
//
// compile receives a name and the values whose filters match it: a fresh slice that
// compile may keep, or nil when nothing matches. A value inserted under two
// filters that both match appears twice; compile should deduplicate if that
// matters. compile runs without the index's lock held, possibly concurrently
// with itself and more than once for the same name, so it may call back into
// the index. The routes it returns may be handed to many callers of Match at
// once and must be treated as read-only.
func NewIndex[V comparable, R any](compile func(name string, matches []V) R, opts IndexOptions) *Index[V, R] {
	if compile == nil {
		panic("topic: NewIndex called with a nil compile function")
	}
	x := &Index[V, R]{compile: compile, root: new(node[V])}
	size := opts.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	if size > 0 {
		x.cacheSize = size
		x.cache = newRouteCache[R](size)
	}
	return x
}

// Insert attaches v to filter f. Inserting the same (f, v) pair again has no
// effect. It panics if f is the zero Filter.
func (x *Index[V, R]) Insert(f Filter, v V) {
	if len(f.levels) == 0 {
		panic("topic: Index.Insert called with the zero Filter")
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	n := x.root
	for _, level := range trieEdges(f) {
		n = n.childOrCreate(level)
	}
	if n.add(f, v) {
		x.count++
		x.gen.Add(1)
	}
}

// Remove detaches v from filter f and reports whether it was attached; it
// reports false for the zero Filter. Trie nodes left without values or
// children are freed.
func (x *Index[V, R]) Remove(f Filter, v V) bool {
	if len(f.levels) == 0 {
		return false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	edges := trieEdges(f)
	// Remember the path so empty nodes can be pruned bottom-up.
	var stack [MaxLevels + 1]*node[V]
	path := append(stack[:0], x.root)
	n := x.root
	for _, level := range edges {
		if n = n.child(level); n == nil {
			return false
		}
		path = append(path, n)
	}
	if !n.remove(f, v) {
		return false
	}
	x.count--
	x.gen.Add(1)
	prune(path, edges)
	return true
}

// Match returns the route for the values whose filters match name. name must
// be valid (see [ValidateName]); the index does not check it again.
func (x *Index[V, R]) Match(name string) R {
	var h uint64
	if x.cacheSize > 0 {
		// Hashed before locking, and once for both the lookup and the store.
		h = x.cache.hash(name)
	}
	x.mu.RLock()
	if h != 0 {
		if route, ok := x.lookupLocked(name, h); ok {
			x.mu.RUnlock()
			x.hits.Add(1)
			return route
		}
	}
	matches := x.collectLocked(name)
	gen := x.gen.Load()
	x.mu.RUnlock()
	x.misses.Add(1)

	route := x.compile(name, matches)
	if h != 0 {
		x.store(name, h, route, gen)
	}
	return route
}

// Invalidate makes every cached route stale, for when something compile
// depends on, other than the index's contents, has changed.
func (x *Index[V, R]) Invalidate() {
	x.mu.Lock()
	x.gen.Add(1)
	x.mu.Unlock()
}

// Count returns the number of (filter, value) pairs in the index.
func (x *Index[V, R]) Count() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.count
}

// Stats returns a snapshot of the index's counters.
func (x *Index[V, R]) Stats() IndexStats {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return IndexStats{
		Hits:       x.hits.Load(),
		Misses:     x.misses.Load(),
		Evictions:  x.evictions,
		Size:       x.cache.used,
		Generation: x.gen.Load(),
	}
}

// collectLocked returns the values of every filter that matches name, in a
// slice of their own. Caller holds x.mu for reading or writing.
func (x *Index[V, R]) collectLocked(name string) []V {
	// Splitting once spares the walk from scanning a level again for every
	// branch that reaches it.
	var split [MaxLevels]string
	levels := appendLevels(split[:0], name)
	// Most names match a few filters: collect on the stack and allocate the
	// result once, at its final size.
	var scratch [16]V
	found := scratch[:0]
	var frontier [8]*node[V]
	if !isReserved(name) {
		found = collect(found, append(frontier[:0], x.root), levels)
	} else if child := x.root.literalChild(levels[0]); child != nil {
		// Wildcards at the root never match reserved names, so only the
		// literal child for the first level can lead to a match.
		found = collect(found, append(frontier[:0], child), levels[1:])
	}
	if len(found) == 0 {
		return nil
	}
	// Copied even when found has outgrown scratch: returning found itself
	// would make the compiler move scratch to the heap.
	return append([]V(nil), found...)
}
