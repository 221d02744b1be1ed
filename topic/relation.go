package topic

// Relations between two filters, for access control: a subscription filter is
// granted outright when an allowed filter covers it, and needs checking per
// topic when it only overlaps a denied one. Both work level by level on the
// parsed filters, without enumerating names.

// Overlaps reports whether some valid name matches both f and g.
func (f Filter) Overlaps(g Filter) bool {
	if len(f.levels) == 0 || len(g.levels) == 0 {
		return false
	}
	// A filter starting with a wildcard matches no $ name, so it meets a
	// filter whose first level is a $ literal nowhere.
	if isWildcard(f.levels[0]) && isReserved(g.levels[0]) || isWildcard(g.levels[0]) && isReserved(f.levels[0]) {
		return false
	}
	a, b := f.levels, g.levels
	for i := 0; ; i++ {
		switch {
		case i < len(a) && a[i] == multiWildcard, i < len(b) && b[i] == multiWildcard:
			// '#' matches whatever the other filter still requires, even
			// nothing.
			return true
		case i == len(a) || i == len(b):
			return len(a) == len(b)
		case a[i] != singleWildcard && b[i] != singleWildcard && a[i] != b[i]:
			return false
		}
	}
}

var rootMulti = []string{singleWildcard, multiWildcard}

// Covers reports whether f matches every name that g matches.
func (f Filter) Covers(g Filter) bool {
	if len(f.levels) == 0 || len(g.levels) == 0 {
		return false
	}
	// f starting with a wildcard cannot cover $ names; g can only produce
	// them from a $ literal first level.
	if isWildcard(f.levels[0]) && isReserved(g.levels[0]) {
		return false
	}
	a, b := f.levels, g.levels
	if len(b) == 1 && b[0] == multiWildcard {
		// Names have at least one level, so a lone '#' matches exactly
		// what '+.#' does.
		b = rootMulti
	}
	for i := 0; ; i++ {
		switch {
		case i < len(a) && a[i] == multiWildcard:
			return true
		case i == len(a):
			return i == len(b)
		case i == len(b):
			// g ends here; only a trailing '#' in f (matching zero levels)
			// could still cover it, and that case returned above.
			return false
		case b[i] == multiWildcard:
			return false // g goes on where f does not
		case a[i] == singleWildcard:
			// covers any single level of g, literal or '+'
		case a[i] != b[i]:
			return false // f literal: g must have the same literal
		}
	}
}
