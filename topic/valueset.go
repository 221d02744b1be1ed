package topic

// smallSet is how many values a valueSet holds before it adds a position map.
// Up to this size a linear scan beats hashing; past it, the map keeps Insert
// and Remove constant-time when thousands subscribe to one filter.
const smallSet = 8

// valueSet is a set of values. Most filters have a single subscriber, so a
// set of one keeps its value inline: matching it then reads nothing beyond the
// trie node. Larger sets keep their values in a slice, so matching copies
// them with one append. Order is not preserved: removal swaps the last item
// into the hole.
type valueSet[V comparable] struct {
	single bool      // the set holds exactly one, in one
	one    V         // the value of a set of one
	items  []V       // the values of a set of two or more; empty otherwise
	pos    map[V]int // index of each item in items; nil while the set is small
}

func (s *valueSet[V]) len() int {
	if s.single {
		return 1
	}
	return len(s.items)
}

// appendTo appends the set's values to dst.
func (s *valueSet[V]) appendTo(dst []V) []V {
	if s.single {
		return append(dst, s.one)
	}
	return append(dst, s.items...)
}

func (s *valueSet[V]) indexOf(v V) int {
	if s.pos != nil {
		if i, ok := s.pos[v]; ok {
			return i
		}
		return -1
	}
	for i, item := range s.items {
		if item == v {
			return i
		}
	}
	return -1
}

// add adds v and reports whether it was absent.
func (s *valueSet[V]) add(v V) bool {
	switch {
	case s.single:
		if s.one == v {
			return false
		}
		s.items = append(s.items[:0], s.one, v)
		var zero V
		s.single, s.one = false, zero
		return true
	case len(s.items) == 0:
		s.single, s.one = true, v
		return true
	case s.indexOf(v) >= 0:
		return false
	}
	s.items = append(s.items, v)
	switch {
	case s.pos != nil:
		s.pos[v] = len(s.items) - 1
	case len(s.items) > smallSet:
		s.pos = make(map[V]int, len(s.items))
		for i, item := range s.items {
			s.pos[item] = i
		}
	}
	return true
}

// remove removes v and reports whether it was present.
func (s *valueSet[V]) remove(v V) bool {
	var zero V
	if s.single {
		if s.one != v {
			return false
		}
		s.single, s.one = false, zero // let the collector have it
		return true
	}
	i := s.indexOf(v)
	if i < 0 {
		return false
	}
	last := len(s.items) - 1
	moved := s.items[last]
	s.items[i] = moved
	s.items[last] = zero
	s.items = s.items[:last]
	if s.pos != nil {
		delete(s.pos, v)
		if i != last {
			s.pos[moved] = i
		}
		// Drop the map well below the threshold so a set hovering around it
		// does not rebuild the map on every change.
		if len(s.items) <= smallSet/2 {
			s.pos = nil
		}
	}
	if len(s.items) == 1 {
		// Back to a set of one. The array stays, unless shrink drops it,
		// for when the set grows again.
		s.single, s.one = true, s.items[0]
		s.items[0] = zero
		s.items = s.items[:0]
	}
	s.shrink()
	return true
}

// shrink releases the backing array once most of it is unused, so a filter
// that once had many subscribers does not pin their memory.
func (s *valueSet[V]) shrink() {
	if cap(s.items) > 4*smallSet && len(s.items) < cap(s.items)/4 {
		s.items = append([]V(nil), s.items...)
	}
}
