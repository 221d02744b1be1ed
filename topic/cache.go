package topic

import "strings"

// evictScan bounds how many cache entries one eviction examines, so a full
// cache costs a store a few map operations rather than a sweep.
const evictScan = 8

// cacheEntry is a compiled route stamped with the generation of the trie it
// was computed from. An entry whose generation is not the index's current one
// is stale and is treated as absent.
type cacheEntry[R any] struct {
	gen   uint64
	route R
}

// lookupLocked returns the cached route for name if there is a current one.
// Caller holds x.mu for reading or writing.
func (x *Index[V, R]) lookupLocked(name string) (R, bool) {
	e, ok := x.cache[name]
	if !ok || e.gen != x.gen {
		var zero R
		return zero, false
	}
	return e.route, true
}

// store caches route for name, unless the index has changed since gen, the
// generation route was computed at: storing it then would stamp an outdated
// route as current. Caller must not hold x.mu; store takes it for writing.
func (x *Index[V, R]) store(name string, route R, gen uint64) {
	if x.cache == nil {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if gen != x.gen {
		return
	}
	if _, ok := x.cache[name]; !ok && len(x.cache) >= x.cacheSize {
		x.evictLocked()
	}
	// Clone the key: callers may pass names that alias a reusable buffer.
	x.cache[strings.Clone(name)] = cacheEntry[R]{gen: gen, route: route}
}

// evictLocked frees at least one cache slot. It drops the stale entries among
// the first few it examines, or one current entry if none of those is stale.
// Map iteration starts at a random place, so successive calls examine
// different entries. Caller holds x.mu for writing.
func (x *Index[V, R]) evictLocked() {
	removed, scanned := 0, 0
	var fallback string
	haveFallback := false
	for name, e := range x.cache {
		switch {
		case e.gen != x.gen:
			delete(x.cache, name)
			removed++
		case !haveFallback:
			fallback, haveFallback = name, true
		}
		if scanned++; scanned == evictScan {
			break
		}
	}
	if removed == 0 && haveFallback {
		delete(x.cache, fallback)
		removed = 1
	}
	x.evictions += uint64(removed)
}

// Cached returns the cached, current route for the name spelled by name,
// without allocating and without walking the trie: the fast path for a
// caller that holds the name as bytes (a frame it has just read). On false
// the caller converts the name, validates it and calls Match.
func (x *Index[V, R]) Cached(name []byte) (R, bool) {
	x.mu.RLock()
	e, ok := x.cache[string(name)] // no allocation: the compiler keys the map with the bytes
	fresh := ok && e.gen == x.gen
	x.mu.RUnlock()
	if !fresh {
		var zero R
		return zero, false
	}
	x.hits.Add(1)
	return e.route, true
}
