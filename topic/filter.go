package topic

import "strings"

// Filter is a parsed subscription filter. The zero Filter matches nothing and
// may not be inserted into an [Index]; obtain Filters from [ParseFilter].
//
// Filters are small values, safe to copy and to use from several goroutines.
type Filter struct {
	s       string
	levels  []string // substrings of s
	literal bool     // no wildcards, so matching is string equality
}

// ParseFilter parses a subscription filter. It returns an [*Error] wrapping
// [ErrInvalidFilter] if filter is not valid.
func ParseFilter(filter string) (Filter, error) {
	if err := checkSize(ErrInvalidFilter, filter); err != nil {
		return Filter{}, err
	}
	levels := strings.Split(filter, ".")
	literal := true
	for i, level := range levels {
		reason := filterLevelProblem(level, i, len(levels))
		if reason != "" {
			return Filter{}, &Error{Kind: ErrInvalidFilter, Input: filter, Level: i + 1, Text: level, Reason: reason}
		}
		if isWildcard(level) {
			literal = false
		}
	}
	return Filter{s: filter, levels: levels, literal: literal}, nil
}

// MustParseFilter is like [ParseFilter] but panics if s is not valid. It is
// meant for constants and tests.
func MustParseFilter(s string) Filter {
	f, err := ParseFilter(s)
	if err != nil {
		panic(err)
	}
	return f
}

// filterLevelProblem says what is wrong with level index (0-based) of a filter
// with n levels, or returns "" if it is valid.
func filterLevelProblem(level string, index, n int) string {
	switch {
	case level == multiWildcard && index != n-1:
		return "must be the last level"
	case isWildcard(level):
		return ""
	case strings.ContainsAny(level, "+#"):
		return "mixes a wildcard with other characters; a wildcard must be a whole level"
	}
	return levelProblem(level, index)
}

func isWildcard(level string) bool {
	return level == singleWildcard || level == multiWildcard
}

// String returns the filter as it was parsed.
func (f Filter) String() string { return f.s }

// IsLiteral reports whether the filter has no wildcards, so it matches exactly
// one name: its own text.
func (f Filter) IsLiteral() bool { return f.literal }

// Matches reports whether the filter matches name. name is assumed to be
// valid (see [ValidateName]); the result for an invalid name is unspecified.
// Matches does not allocate.
func (f Filter) Matches(name string) bool {
	if f.literal {
		return name == f.s
	}
	if len(f.levels) == 0 {
		return false
	}
	if isWildcard(f.levels[0]) && isReserved(name) {
		return false
	}
	pos := 0
	for _, want := range f.levels {
		if want == multiWildcard {
			return true
		}
		if pos < 0 {
			return false // name ran out of levels
		}
		var got string
		got, pos = nextLevel(name, pos)
		if want != singleWildcard && want != got {
			return false
		}
	}
	return pos < 0
}
