package topic

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors. Every error returned by this package is an [*Error] that
// wraps ErrInvalidName or ErrInvalidFilter, and additionally ErrTooLong or
// ErrTooManyLevels when a size limit was the reason.
var (
	ErrInvalidName   = errors.New("topic: invalid name")
	ErrInvalidFilter = errors.New("topic: invalid filter")
	ErrTooLong       = errors.New("topic: too long")
	ErrTooManyLevels = errors.New("topic: too many levels")
)

// quoteLimit bounds how much of a rejected input an error message repeats, so
// a hostile 64 KiB topic does not become a 64 KiB log line.
const quoteLimit = 64

// Error describes why a name or filter was rejected.
type Error struct {
	Kind   error  // ErrInvalidName or ErrInvalidFilter
	Input  string // the rejected name or filter, in full
	Level  int    // 1-based position of the offending level; 0 if the input as a whole is at fault
	Text   string // the offending level's text
	Reason string // what is wrong, e.g. "is empty"
	Limit  error  // ErrTooLong or ErrTooManyLevels if a size limit was exceeded; nil otherwise
}

// Error returns a message such as
//
//	topic: invalid name "events..x": level 2 is empty
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.Error())
	b.WriteByte(' ')
	b.WriteString(quoteInput(e.Input))
	b.WriteString(": ")
	if e.Level > 0 {
		b.WriteString("level ")
		b.WriteString(strconv.Itoa(e.Level))
		b.WriteByte(' ')
		if e.Text != "" {
			b.WriteString(strconv.Quote(e.Text))
			b.WriteByte(' ')
		}
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap lets errors.Is match the sentinels.
func (e *Error) Unwrap() []error {
	if e.Limit != nil {
		return []error{e.Kind, e.Limit}
	}
	return []error{e.Kind}
}

func quoteInput(s string) string {
	if len(s) <= quoteLimit {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:quoteLimit]) + "..."
}

// checkSize reports an input that breaks MaxLength or MaxLevels. Checking the
// size first keeps the per-level diagnosis from walking huge inputs.
func checkSize(kind error, s string) error {
	if len(s) > MaxLength {
		return &Error{
			Kind:   kind,
			Input:  s,
			Reason: fmt.Sprintf("is %d bytes, more than %d", len(s), MaxLength),
			Limit:  ErrTooLong,
		}
	}
	if strings.Count(s, ".") < MaxLevels {
		return nil
	}
	// Name the first level past the limit so the caller sees where to cut.
	rest := s
	for range MaxLevels {
		_, rest, _ = strings.Cut(rest, ".")
	}
	text, _, _ := strings.Cut(rest, ".")
	return &Error{
		Kind:   kind,
		Input:  s,
		Level:  MaxLevels + 1,
		Text:   text,
		Reason: fmt.Sprintf("exceeds the limit of %d levels", MaxLevels),
		Limit:  ErrTooManyLevels,
	}
}

// levelProblem says what is wrong with one level of a name, or returns "" if
// the level is valid. index is 0-based; only the first level may start
// with '$'.
func levelProblem(level string, index int) string {
	if level == "" {
		return "is empty"
	}
	body := level
	if index == 0 && level[0] == '$' {
		body = level[1:]
		if body == "" {
			return "has nothing after '$'"
		}
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case levelBytes[c]:
		case c == '$':
			return "contains '$', which may only start the first level"
		case c == '+' || c == '#':
			return fmt.Sprintf("contains wildcard %q, which names may not", c)
		case c > ' ' && c < 0x7f:
			return fmt.Sprintf("contains invalid character %q", c)
		default:
			return fmt.Sprintf("contains invalid byte 0x%02x", c)
		}
	}
	return ""
}
