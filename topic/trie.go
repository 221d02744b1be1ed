package topic

// node is one level of the filter trie. The wildcard children have dedicated
// fields so matching never hashes "+" or "#".
//
// All node methods require the owning Index's mu: held for writing by those
// that modify the trie, for reading or writing by the rest.
type node[V comparable] struct {
	literal map[string]*node[V] // children by exact level; nil when there are none
	plus    *node[V]            // child for a "+" level
	values  valueSet[V]         // values of filters that end at this node
	hash    valueSet[V]         // values of filters that end in "#" after this node
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

// valuesFor returns the set, on the node where f's edges end, that holds f's
// values. Caller holds mu.
func (n *node[V]) valuesFor(f Filter) *valueSet[V] {
	if endsInHash(f) {
		return &n.hash
	}
	return &n.values
}

// child returns the child for level, or nil. Caller holds mu.
func (n *node[V]) child(level string) *node[V] {
	if level == singleWildcard {
		return n.plus
	}
	return n.literal[level]
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
	if n.literal == nil {
		n.literal = make(map[string]*node[V])
	}
	n.literal[level] = c
	return c
}

// removeChild detaches the child for level. Caller holds mu for writing.
func (n *node[V]) removeChild(level string) {
	if level == singleWildcard {
		n.plus = nil
		return
	}
	delete(n.literal, level)
	if len(n.literal) == 0 {
		n.literal = nil
	}
}

// isEmpty reports whether n holds no values and has no children. Caller
// holds mu.
func (n *node[V]) isEmpty() bool {
	return n.plus == nil && len(n.literal) == 0 && n.values.len() == 0 && n.hash.len() == 0
}

// prune detaches the empty nodes at the bottom of path, where path[i+1] is
// the child of path[i] along edges[i]. The root, path[0], is never detached.
// Caller holds mu for writing.
func prune[V comparable](path []*node[V], edges []string) {
	for i := len(edges); i > 0 && path[i].isEmpty(); i-- {
		path[i-1].removeChild(edges[i-1])
	}
}

// collect appends to dst the values of the filters below n that match the
// levels of name from byte pos on; pos is -1 when every level has been
// consumed. Caller holds mu.
func (n *node[V]) collect(dst []V, name string, pos int) []V {
	// "#" matches whatever remains, including nothing.
	dst = n.hash.appendTo(dst)
	if pos < 0 {
		return n.values.appendTo(dst)
	}
	level, next := nextLevel(name, pos)
	if c := n.literal[level]; c != nil {
		dst = c.collect(dst, name, next)
	}
	if n.plus != nil {
		dst = n.plus.collect(dst, name, next)
	}
	return dst
}
