package topic

import "strings"

// Limits on names and filters. They bound the work a single publish can cause
// and let the index walk levels without growing anything.
const (
	MaxLevels = 16  // levels in a name or filter, including a trailing "#"
	MaxLength = 255 // bytes in a name or filter
)

// Separator and wildcards.
const (
	separator      = '.'
	singleWildcard = "+"
	multiWildcard  = "#"
	reservedMark   = '$'
)

// levelBytes marks the bytes allowed inside a level. A table keeps the
// publish-path check to one load per byte.
var levelBytes = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['_'] = true
	t['-'] = true
	return t
}()

// ValidateName reports whether name is a valid topic name, one that can be
// published to. It returns nil or an [*Error] wrapping [ErrInvalidName].
//
// It does not allocate when name is valid.
func ValidateName(name string) error {
	if isValidName(name) {
		return nil
	}
	return diagnoseName(name)
}

// isValidName is the publish-path check: one pass, no allocation, no detail.
// diagnoseName must agree with it on every input; a fuzz test checks that.
func isValidName(name string) bool {
	if len(name) == 0 || len(name) > MaxLength {
		return false
	}
	i := 0
	if name[0] == reservedMark {
		i = 1
	}
	start, levels := i, 1
	for ; i < len(name); i++ {
		c := name[i]
		if levelBytes[c] {
			continue
		}
		if c != separator || i == start {
			return false
		}
		levels++
		start = i + 1
	}
	return start < len(name) && levels <= MaxLevels
}

// diagnoseName explains why name is invalid, or returns nil if it is valid.
// It runs only on bad input, so it favours clarity over speed.
func diagnoseName(name string) error {
	if err := checkSize(ErrInvalidName, name); err != nil {
		return err
	}
	for i, level := range strings.Split(name, ".") {
		if reason := levelProblem(level, i); reason != "" {
			return &Error{Kind: ErrInvalidName, Input: name, Level: i + 1, Text: level, Reason: reason}
		}
	}
	return nil
}

// nextLevel returns the level of name that starts at byte pos, and where the
// following level starts, or -1 if this level is the last.
func nextLevel(name string, pos int) (level string, next int) {
	i := strings.IndexByte(name[pos:], separator)
	if i < 0 {
		return name[pos:], -1
	}
	return name[pos : pos+i], pos + i + 1
}

// appendLevels appends the levels of name to dst.
func appendLevels(dst []string, name string) []string {
	for {
		i := strings.IndexByte(name, separator)
		if i < 0 {
			return append(dst, name)
		}
		dst = append(dst, name[:i])
		name = name[i+1:]
	}
}

// isReserved reports whether name is a broker-reserved ('$') topic.
func isReserved(name string) bool {
	return name != "" && name[0] == reservedMark
}
