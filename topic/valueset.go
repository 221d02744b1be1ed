package topic

// smallSet is how many values a valueSet holds before it adds a position map.
// Up to this size a linear scan beats hashing; past it, the map keeps Insert
// and Remove constant-time when thousands subscribe to one filter.
const smallSet = 8

// valueSet is a set of values kept in a slice, so matching copies it with one
// append. Order is not preserved: removal swaps the last item into the hole.
type valueSet[V comparable] struct {
	items []V
	pos   map[V]int // index of each item in items; nil while the set is small
}

func (s *valueSet[V]) len() int { return len(s.items) }

// appendTo appends the set's values to dst.
func (s *valueSet[V]) appendTo(dst []V) []V {
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
	if s.indexOf(v) >= 0 {
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
	i := s.indexOf(v)
	if i < 0 {
		return false
	}
	last := len(s.items) - 1
	moved := s.items[last]
	s.items[i] = moved
	var zero V
	s.items[last] = zero // let the collector have it
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
	s.shrink()
	return true
}

// shrink releases the backing array once most of it is unused, so a filter
// that once had many subscribers does not pin their memory.
func (s *valueSet[V]) shrink() {
	switch {
	case len(s.items) == 0:
		s.items = nil
	case cap(s.items) > 4*smallSet && len(s.items) < cap(s.items)/4:
		s.items = append([]V(nil), s.items...)
	}
}
