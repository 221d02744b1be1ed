package topic

// node is one level of the filter trie. The wildcard children have dedicated
// fields so matching never hashes "+" or "#".
//
// All node methods require the owning Index's mu: held for writing by those
// that modify the trie, for reading or writing by the rest.
//
// The fields a walk reads at every node come first, so that they tend to
// share a cache line; a large trie does not fit in the processor's caches,
// and a match costs roughly one miss per line it reads.
type node[V comparable] struct {
	// Values of filters that end in "#" after this node. Few nodes have
	// any, so the set is allocated on demand to keep nodes small.
	hash *valueSet[V]

	// Children by exact level. Most nodes of a large trie have a single
	// literal child, which is kept in only and onlyLevel instead of a map:
	// a one-entry map costs two more allocations and, on every match, two
	// more cache misses. literal is nil unless there are two or more.
	literal   map[string]*node[V]
	only      *node[V] // the single literal child; nil when there is none or literal is set
	onlyLevel string
	plus      *node[V] // child for a "+" level

	values valueSet[V] // values of filters that end at this node
}

// trieEdges returns the levels of f that are edges in the trie. A trailing
// "#" is not an edge: its values live on the node before it.
func trieEdges(f Filter) []string {
	if endsInHash(f) {
		return f.levels[:len(f.levels)-1]
	}
	return f.levels
}

func endsInHash(f Filter) bool {
	return len(f.levels) > 0 && f.levels[len(f.levels)-1] == multiWildcard
}

// add attaches v to f, a filter whose edges end at n, and reports whether it
// was absent. Caller holds mu for writing.
func (n *node[V]) add(f Filter, v V) bool {
	if !endsInHash(f) {
		return n.values.add(v)
	}
	if n.hash == nil {
		n.hash = new(valueSet[V])
	}
	return n.hash.add(v)
}

// remove detaches v from f, a filter whose edges end at n, and reports
// whether it was attached. Caller holds mu for writing.
func (n *node[V]) remove(f Filter, v V) bool {
	if !endsInHash(f) {
		return n.values.remove(v)
	}
	if n.hash == nil || !n.hash.remove(v) {
		return false
	}
	if n.hash.len() == 0 {
		n.hash = nil
	}
	return true
}

// child returns the child for level, or nil. Caller holds mu.
func (n *node[V]) child(level string) *node[V] {
	if level == singleWildcard {
		return n.plus
	}
	return n.literalChild(level)
}

// literalChild returns the child for level, a level other than "+", or nil.
// Caller holds mu.
func (n *node[V]) literalChild(level string) *node[V] {
	if n.literal != nil {
		return n.literal[level]
	}
	if n.only != nil && n.onlyLevel == level {
		return n.only
	}
	return nil
}

// childOrCreate returns the child for level, adding it if needed. Caller
// holds mu for writing.
func (n *node[V]) childOrCreate(level string) *node[V] {
	if c := n.child(level); c != nil {
		return c
	}
	c := new(node[V])
	if level == singleWildcard {
		n.plus = c
		return c
	}
	switch {
	case n.literal != nil:
		n.literal[level] = c
	case n.only == nil:
		n.only, n.onlyLevel = c, level
	default:
		n.literal = map[string]*node[V]{n.onlyLevel: n.only, level: c}
		n.only, n.onlyLevel = nil, ""
	}
	return c
}

// removeChild detaches the child for level. Caller holds mu for writing.
func (n *node[V]) removeChild(level string) {
	if level == singleWildcard {
		n.plus = nil
		return
	}
	if n.literal == nil {
		if n.onlyLevel == level {
			n.only, n.onlyLevel = nil, ""
		}
		return
	}
	delete(n.literal, level)
	if len(n.literal) == 1 {
		for level, c := range n.literal {
			n.only, n.onlyLevel = c, level
		}
		n.literal = nil
	}
}

// isEmpty reports whether n holds no values and has no children. Caller
// holds mu.
func (n *node[V]) isEmpty() bool {
	return n.plus == nil && n.only == nil && len(n.literal) == 0 && n.values.len() == 0 && n.hash == nil
}

// prune detaches the empty nodes at the bottom of path, where path[i+1] is
// the child of path[i] along edges[i]. The root, path[0], is never detached.
// Caller holds mu for writing.
func prune[V comparable](path []*node[V], edges []string) {
	for i := len(edges); i > 0 && path[i].isEmpty(); i-- {
		path[i-1].removeChild(edges[i-1])
	}
}

// collect appends to dst the values of the filters below the nodes in from
// that match levels, the levels of a name that remain below them. from is
// scratch space and is overwritten. Caller holds mu.
//
// The walk is breadth first: the lookups for one level are independent of
// each other, so the processor can overlap their cache misses, where a depth
// first walk would wait for each branch's misses in turn.
func collect[V comparable](dst []V, from []*node[V], levels []string) []V {
	var spare [8]*node[V]
	cur, next := from, spare[:0]
	for _, level := range levels {
		for _, n := range cur {
			// "#" matches whatever remains, including nothing.
			if n.hash != nil {
				dst = n.hash.appendTo(dst)
			}
			if c := n.literalChild(level); c != nil {
				next = append(next, c)
			}
			if n.plus != nil {
				next = append(next, n.plus)
			}
		}
		if len(next) == 0 {
			return dst
		}
		cur, next = next, cur[:0]
	}
	for _, n := range cur {
		if n.hash != nil {
			dst = n.hash.appendTo(dst)
		}
		dst = n.values.appendTo(dst)
	}
	return dst
}
