package topic

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func FuzzValidateName(f *testing.F) {
	for _, tc := range nameCases {
		f.Add(tc.name)
	}
	for _, tc := range matchCases {
		f.Add(tc.name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidateName(name)
		if fast, slow := isValidName(name), diagnoseName(name) == nil; fast != slow {
			t.Fatalf("%q: isValidName = %v, diagnoseName valid = %v", name, fast, slow)
		}
		if err != nil {
			var e *Error
			if !errors.Is(err, ErrInvalidName) || !errors.As(err, &e) {
				t.Fatalf("%q: error %v is not an *Error wrapping ErrInvalidName", name, err)
			}
			if e.Level < 0 || e.Level > MaxLevels+1 || !strings.Contains(name, e.Text) {
				t.Fatalf("%q: error %+v names a level outside the input", name, e)
			}
			return
		}
		// A valid name is a literal filter that matches exactly itself.
		filt, err := ParseFilter(name)
		if err != nil {
			t.Fatalf("valid name %q is not a valid filter: %v", name, err)
		}
		if !filt.IsLiteral() || filt.String() != name || !filt.Matches(name) {
			t.Fatalf("%q: literal %v, String %q, matches itself %v", name, filt.IsLiteral(), filt.String(), filt.Matches(name))
		}
		if filt.Matches(name+".x") || (strings.Contains(name, ".") && filt.Matches(name[:strings.LastIndexByte(name, '.')])) {
			t.Fatalf("literal filter %q matches a name other than itself", name)
		}
	})
}

func FuzzParseFilter(f *testing.F) {
	for _, tc := range filterCases {
		f.Add(tc.filter)
	}
	for _, tc := range matchCases {
		f.Add(tc.filter)
	}
	f.Fuzz(func(t *testing.T, s string) {
		filt, err := ParseFilter(s)
		if err != nil {
			var e *Error
			if !errors.Is(err, ErrInvalidFilter) || !errors.As(err, &e) {
				t.Fatalf("%q: error %v is not an *Error wrapping ErrInvalidFilter", s, err)
			}
			return
		}
		again, err := ParseFilter(filt.String())
		if err != nil || filt.String() != s || !slices.Equal(again.levels, filt.levels) || again.literal != filt.literal {
			t.Fatalf("%q does not round-trip: %v %q", s, err, again.levels)
		}
		if filt.IsLiteral() != (ValidateName(s) == nil) {
			t.Fatalf("%q: IsLiteral = %v but ValidateName = %v", s, filt.IsLiteral(), ValidateName(s))
		}
		// Filling the wildcards in gives a name the filter must match.
		if name := instantiate(filt); ValidateName(name) == nil && !filt.Matches(name) {
			t.Fatalf("%q does not match %q", s, name)
		}
	})
}

// instantiate returns a name built from f by replacing "+" with a level and
// dropping a trailing "#".
func instantiate(f Filter) string {
	var parts []string
	for _, level := range f.levels {
		switch level {
		case singleWildcard:
			parts = append(parts, "x")
		case multiWildcard:
			if len(parts) == 0 {
				parts = append(parts, "x") // "#" alone still needs one level
			}
		default:
			parts = append(parts, level)
		}
	}
	return strings.Join(parts, ".")
}

// FuzzIndexMatch inserts space-separated filters, each with a value
// derived from its position so values repeat, and checks Match against
// naive matching before and after removing some.
func FuzzIndexMatch(f *testing.F) {
	for i, tc := range matchCases {
		others := matchCases[(i+1)%len(matchCases)].filter + " " + matchCases[(i+7)%len(matchCases)].filter
		f.Add(tc.filter+" "+others+" "+tc.filter, tc.name)
	}
	f.Fuzz(func(t *testing.T, filters, name string) {
		if ValidateName(name) != nil {
			return
		}
		cached := NewIndex(sortedInts, IndexOptions{CacheSize: 2})
		uncached := NewIndex(sortedInts, noCache)
		ref := &naiveIndex{pairs: make(map[naivePair]Filter)}
		var parsed []Filter
		for _, s := range strings.Fields(filters) {
			filt, err := ParseFilter(s)
			if err != nil || len(parsed) == 64 {
				continue
			}
			parsed = append(parsed, filt)
			v := len(parsed) % 3
			cached.Insert(filt, v)
			uncached.Insert(filt, v)
			ref.insert(filt, v)
		}
		check := func(when string) {
			want := ref.match(name)
			for _, x := range []*Index[int, []int]{cached, uncached} {
				for range 2 { // the second time may come from the cache
					if got := x.Match(name); !slices.Equal(got, want) {
						t.Fatalf("%s: Match(%q) = %v, want %v", when, name, got, want)
					}
				}
				if x.Count() != len(ref.pairs) {
					t.Fatalf("%s: Count = %d, want %d", when, x.Count(), len(ref.pairs))
				}
			}
		}
		check("after insert")
		for i := 0; i < len(parsed); i += 2 {
			v := (i + 1) % 3
			want := ref.remove(parsed[i], v)
			if cached.Remove(parsed[i], v) != want || uncached.Remove(parsed[i], v) != want {
				t.Fatalf("Remove(%s, %d) disagrees with the reference (%v)", parsed[i], v, want)
			}
		}
		check("after remove")
	})
}
