package topic

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	for _, tc := range nameCases {
		err := ValidateName(tc.name)
		if tc.level < 0 {
			if err != nil {
				t.Errorf("ValidateName(%q) = %v, want nil", tc.name, err)
			}
			continue
		}
		checkError(t, err, ErrInvalidName, tc.name, tc.limit, tc.level)
	}
}

// checkError checks err's type, sentinels and the level it names.
func checkError(t *testing.T, err, kind error, input string, limit error, level int) {
	t.Helper()
	if err == nil {
		t.Errorf("%q: got nil error, want one wrapping %v", input, kind)
		return
	}
	if !errors.Is(err, kind) {
		t.Errorf("%q: error %v does not wrap %v", input, err, kind)
	}
	for _, other := range []error{ErrInvalidName, ErrInvalidFilter} {
		if other != kind && errors.Is(err, other) {
			t.Errorf("%q: error %v wraps %v too", input, err, other)
		}
	}
	for _, l := range []error{ErrTooLong, ErrTooManyLevels} {
		if got, want := errors.Is(err, l), l == limit; got != want {
			t.Errorf("%q: errors.Is(%v, %v) = %v, want %v", input, err, l, got, want)
		}
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("%q: error %v (%T) is not an *Error", input, err, err)
		return
	}
	if e.Input != input || e.Level != level {
		t.Errorf("%q: got Input %q Level %d, want Level %d", input, e.Input, e.Level, level)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, kind.Error()+" ") {
		t.Errorf("%q: message %q does not start with %q", input, msg, kind.Error())
	}
	if level > 0 && !strings.Contains(msg, fmt.Sprintf(": level %d ", level)) {
		t.Errorf("%q: message %q does not name level %d", input, msg, level)
	}
	if len(msg) > 200 {
		t.Errorf("%q: message is %d bytes long", input, len(msg))
	}
}

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{ValidateName("events..x"), `topic: invalid name "events..x": level 2 is empty`},
		{ValidateName("a.b+"), `topic: invalid name "a.b+": level 2 "b+" contains wildcard '+', which names may not`},
		{ValidateName("a b"), `topic: invalid name "a b": level 1 "a b" contains invalid byte 0x20`},
		{ValidateName("a/b"), `topic: invalid name "a/b": level 1 "a/b" contains invalid character '/'`},
		{ValidateName("a.$b"), `topic: invalid name "a.$b": level 2 "$b" contains '$', which may only start the first level`},
		{ValidateName("$.a"), `topic: invalid name "$.a": level 1 "$" has nothing after '$'`},
		{ValidateName(levels(17)), `topic: invalid name "` + levels(17) + `": level 17 "lq" exceeds the limit of 16 levels`},
		{ValidateName(strings.Repeat("a", 300)), `topic: invalid name "` + strings.Repeat("a", quoteLimit) + `"...: is 300 bytes, more than 255`},
		{parseErr("a.#.b"), `topic: invalid filter "a.#.b": level 2 "#" must be the last level`},
		{parseErr("ev+"), `topic: invalid filter "ev+": level 1 "ev+" mixes a wildcard with other characters; a wildcard must be a whole level`},
		{parseErr(""), `topic: invalid filter "": level 1 is empty`},
	}
	for _, tc := range tests {
		if tc.err == nil {
			t.Errorf("got nil error, want %s", tc.want)
			continue
		}
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

func parseErr(s string) error {
	_, err := ParseFilter(s)
	return err
}

// The fast publish-path check and the diagnosis must agree.
func TestValidateNameFastPathAgrees(t *testing.T) {
	for _, tc := range nameCases {
		if fast, slow := isValidName(tc.name), diagnoseName(tc.name) == nil; fast != slow {
			t.Errorf("%q: isValidName = %v, diagnoseName valid = %v", tc.name, fast, slow)
		}
	}
}

func TestValidateNameDoesNotAllocate(t *testing.T) {
	for _, tc := range nameCases {
		if tc.level >= 0 {
			continue
		}
		allocs := testing.AllocsPerRun(100, func() {
			if ValidateName(tc.name) != nil {
				t.Fatal("unexpected error")
			}
		})
		if allocs != 0 {
			t.Errorf("ValidateName(%q) allocates %v times", tc.name, allocs)
		}
	}
}

func TestHierarchyNamesAreValid(t *testing.T) {
	names := []string{
		Events, EventsProcess, EventsProcessLifecycle, EventsProcessMetadata,
		EventsProcessTree, EventsProcessIntegrity, EventsProcessAnomaly,
		EventsProcessBatch, EventsNetwork, EventsFilesystem, EventsPerformance,
		Control, ControlCollectorLifecycle, ControlCollectorConfig,
		ControlCollectorTask, ControlCollectorTaskProcess,
		ControlCollectorTaskNetwork, ControlCollectorTaskFilesystem,
		ControlCollectorTaskPerformance, ControlHealthHeartbeat,
		ControlHealthStatus, ControlHealthDiagnostics, SysPrefix,
	}
	seen := make(map[string]bool)
	for _, name := range names {
		if err := ValidateName(name); err != nil {
			t.Error(err)
		}
		if seen[name] {
			t.Errorf("%q defined twice", name)
		}
		seen[name] = true
	}
	for _, kind := range []string{"process", "network", "filesystem", "performance"} {
		got := CollectorTaskTopic(kind)
		if !seen[got] || !strings.HasSuffix(got, "."+kind) {
			t.Errorf("CollectorTaskTopic(%q) = %q, not one of the task constants", kind, got)
		}
	}
	if !MustParseFilter("events.process.#").Matches(EventsProcessBatch) {
		t.Error("events.process.# does not match EventsProcessBatch")
	}
	if MustParseFilter("#").Matches(SysPrefix + ".broker.stats") {
		t.Error(`"#" matches a $SYS topic`)
	}
}
