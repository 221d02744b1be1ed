package acl

// DefaultPublishCacheSize bounds a PublishCache.
const DefaultPublishCacheSize = 1024

// PublishCache remembers a principal's publish decisions by topic, so that a
// session publishing to the same topics pays one map lookup per message. It
// belongs to one session and is not safe for concurrent use.
type PublishCache struct {
	p     *Principal
	max   int
	known map[string]bool
}

// NewPublishCache returns a cache of at most max decisions for p; max <= 0
// means DefaultPublishCacheSize.
func NewPublishCache(p *Principal, max int) *PublishCache {
	if max <= 0 {
		max = DefaultPublishCacheSize
	}
	return &PublishCache{p: p, max: max, known: make(map[string]bool)}
}

// Principal returns the principal whose decisions are cached.
func (c *PublishCache) Principal() *Principal { return c.p }

// Allowed reports whether the principal may publish to name.
func (c *PublishCache) Allowed(name string) bool {
	if ok, hit := c.known[name]; hit {
		return ok
	}
	ok := c.p.CanPublish(name)
	if len(c.known) >= c.max {
		// A session cycling through more topics than the bound starts over
		// rather than growing; decisions are cheap to recompute.
		clear(c.known)
	}
	c.known[name] = ok
	return ok
}
