package topic

import (
	"hash/maphash"
	"math/rand/v2"
	"strings"
)

// cacheWays is the most slots a name can be cached in. The cache is set
// associative: a name's hash picks a set, and the name may occupy any slot of
// that set. Storing then costs one hash and a scan of one set, instead of the
// lookups, deletions and rehashing a map needs to make room, and eight tags
// fill one cache line.
const cacheWays = 8

// cacheEntry is a compiled route stamped with the generation of the trie it
// was computed from. An entry whose generation is not the index's current one
// is stale and is treated as absent.
type cacheEntry[R any] struct {
	gen   uint64
	name  string
	route R
}

// routeCache holds the cached routes of an [Index]. Its slots are divided
// into sets of at most cacheWays; the shape is fixed when the index is made.
// The slices' contents and used are guarded by the index's mu.
type routeCache[R any] struct {
	seed    maphash.Seed
	tags    []uint64 // name hash with the low bit set, so 0 marks an empty slot
	entries []cacheEntry[R]
	sets    int // sets in the cache
	ways    int // slots in each set, plus one in the first extra sets
	extra   int
	used    int // slots that are not empty
}

func newRouteCache[R any](size int) routeCache[R] {
	sets := (size + cacheWays - 1) / cacheWays
	return routeCache[R]{
		seed:    maphash.MakeSeed(),
		tags:    make([]uint64, size),
		entries: make([]cacheEntry[R], size),
		sets:    sets,
		ways:    size / sets,
		extra:   size % sets,
	}
}

// hash returns the tag of name; the cache must be enabled.
func (c *routeCache[R]) hash(name string) uint64 {
	return maphash.String(c.seed, name) | 1
}

// set returns the bounds of the slots where a name with tag h may be cached.
func (c *routeCache[R]) set(h uint64) (lo, hi int) {
	// The high bits pick the set, so sets need not be a power of two.
	return c.bounds(int((h >> 32) * uint64(c.sets) >> 32))
}

// bounds returns the bounds of the slots of set s.
func (c *routeCache[R]) bounds(s int) (lo, hi int) {
	lo = s*c.ways + min(s, c.extra)
	hi = lo + c.ways
	if s < c.extra {
		hi++
	}
	return lo, hi
}

// lookupLocked returns the cached route for name, whose tag is h, if there is
// a current one. Caller holds x.mu for reading or writing.
func (x *Index[V, R]) lookupLocked(name string, h uint64) (R, bool) {
	c := &x.cache
	lo, hi := c.set(h)
	for i := lo; i < hi; i++ {
		if c.tags[i] == h {
			if e := &c.entries[i]; e.name == name && e.gen == x.gen.Load() {
				return e.route, true
			}
		}
	}
	var zero R
	return zero, false
}

// store caches route for name, whose tag is h, unless the index has changed
// since gen, the generation route was computed at: storing it then would
// stamp an outdated route as current. Caller must not hold x.mu; store takes
// it for writing.
func (x *Index[V, R]) store(name string, h uint64, route R, gen uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if gen != x.gen.Load() {
		return
	}
	c := &x.cache
	lo, hi := c.set(h)
	victim, empty, stale := -1, -1, -1
	for i := lo; i < hi; i++ {
		switch {
		case c.tags[i] == 0:
			if empty < 0 {
				empty = i
			}
		case c.tags[i] == h && c.entries[i].name == name:
			// Refreshing a stale entry, or a concurrent miss for the same
			// name: keep the key the slot already owns.
			c.entries[i].gen, c.entries[i].route = gen, route
			return
		case c.entries[i].gen != gen && stale < 0:
			stale = i
		}
	}
	switch {
	case empty >= 0:
		victim = empty
		c.used++
	case stale >= 0:
		victim = stale
		x.evictions++
	default:
		// A random victim, unlike the oldest, lets names cycled through a
		// set larger than it still hit now and then.
		victim = lo + rand.IntN(hi-lo)
		x.evictions++
	}
	c.tags[victim] = h
	// Clone the key: callers may pass names that alias a reusable buffer.
	c.entries[victim] = cacheEntry[R]{gen: gen, name: strings.Clone(name), route: route}
}

// Cached returns the cached, current route for the name spelled by name,
// without allocating and without walking the trie: the fast path for a
// caller that holds the name as bytes (a frame it has just read). On false
// the caller converts the name, validates it and calls Match.
func (x *Index[V, R]) Cached(name []byte) (R, bool) {
	route, _, _, ok := x.cached(name)
	return route, ok
}

// cached is Cached that also returns the cache's copy of the name and the
// generation the route is current for.
func (x *Index[V, R]) cached(name []byte) (route R, key string, gen uint64, ok bool) {
	if x.cacheSize == 0 {
		return route, "", 0, false
	}
	c := &x.cache
	h := maphash.Bytes(c.seed, name) | 1 // the same hash as c.hash(string(name))
	lo, hi := c.set(h)
	x.mu.RLock()
	for i := lo; i < hi; i++ {
		if c.tags[i] == h {
			// Comparing with a converted []byte does not allocate.
			if e := &c.entries[i]; e.name == string(name) && e.gen == x.gen.Load() {
				route, key, gen = e.route, e.name, e.gen
				x.mu.RUnlock()
				x.hits.Add(1)
				return route, key, gen, true
			}
		}
	}
	x.mu.RUnlock()
	return route, "", 0, false
}
