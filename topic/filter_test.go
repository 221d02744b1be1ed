package topic

import (
	"strings"
	"testing"
)

func TestParseFilter(t *testing.T) {
	for _, tc := range filterCases {
		f, err := ParseFilter(tc.filter)
		if tc.level >= 0 {
			checkError(t, err, ErrInvalidFilter, tc.filter, tc.limit, tc.level)
			if f.String() != "" || len(f.levels) != 0 {
				t.Errorf("ParseFilter(%q) returned %#v with its error", tc.filter, f)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseFilter(%q) = %v", tc.filter, err)
			continue
		}
		if f.String() != tc.filter {
			t.Errorf("ParseFilter(%q).String() = %q", tc.filter, f.String())
		}
		if strings.Join(f.levels, ".") != tc.filter {
			t.Errorf("ParseFilter(%q) levels = %q", tc.filter, f.levels)
		}
		if f.IsLiteral() != tc.literal {
			t.Errorf("ParseFilter(%q).IsLiteral() = %v", tc.filter, f.IsLiteral())
		}
	}
}

// Every valid name is a valid literal filter, and a name that ValidateName
// rejects for anything other than wildcards is also a rejected filter.
func TestNamesAsFilters(t *testing.T) {
	for _, tc := range nameCases {
		f, err := ParseFilter(tc.name)
		if tc.level < 0 {
			if err != nil || !f.IsLiteral() || !f.Matches(tc.name) {
				t.Errorf("ParseFilter(%q) = %v, %v; literal %v", tc.name, f, err, f.IsLiteral())
			}
			continue
		}
		if !strings.ContainsAny(tc.name, "+#") && err == nil {
			t.Errorf("ParseFilter(%q) accepted an invalid name", tc.name)
		}
	}
}

func TestMustParseFilterPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustParseFilter did not panic")
		}
	}()
	MustParseFilter("a.#.b")
}

func TestFilterMatches(t *testing.T) {
	for _, tc := range matchCases {
		if err := ValidateName(tc.name); err != nil {
			t.Fatalf("bad test case: %v", err)
		}
		f := MustParseFilter(tc.filter)
		if got := f.Matches(tc.name); got != tc.want {
			t.Errorf("%q.Matches(%q) = %v, want %v", tc.filter, tc.name, got, tc.want)
		}
		if allocs := testing.AllocsPerRun(10, func() { f.Matches(tc.name) }); allocs != 0 {
			t.Errorf("%q.Matches(%q) allocates %v times", tc.filter, tc.name, allocs)
		}
	}
}

func TestZeroFilter(t *testing.T) {
	var f Filter
	if f.Matches("a") || f.Matches("") || f.String() != "" || f.IsLiteral() {
		t.Errorf("zero Filter: Matches %v, String %q, IsLiteral %v", f.Matches("a"), f.String(), f.IsLiteral())
	}
}
