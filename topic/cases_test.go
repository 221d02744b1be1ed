package topic

import "strings"

// The tables below drive the unit tests and seed the fuzz targets.

// levels returns a name of n levels "l1.l2...".
func levels(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = "l" + string(rune('a'+i%26))
	}
	return strings.Join(parts, ".")
}

// repeatLevel returns n copies of level joined with dots.
func repeatLevel(level string, n int) string {
	return strings.TrimSuffix(strings.Repeat(level+".", n), ".")
}

// longName returns a valid name of exactly n bytes.
func longName(n int) string {
	// Levels of 15 bytes plus a dot; the last level takes up the rest.
	var b strings.Builder
	for b.Len()+16 < n {
		b.WriteString(strings.Repeat("x", 15))
		b.WriteByte('.')
	}
	b.WriteString(strings.Repeat("y", n-b.Len()))
	return b.String()
}

type nameCase struct {
	name  string
	limit error // ErrTooLong or ErrTooManyLevels, if that is the reason
	level int   // 1-based offending level in the error; -1 for valid names
}

var nameCases = []nameCase{
	{name: "a", level: -1},
	{name: "events", level: -1},
	{name: "events.process.lifecycle", level: -1},
	{name: "Events.PROCESS.x-y_z.0", level: -1},
	{name: "$SYS", level: -1},
	{name: "$SYS.broker.stats", level: -1},
	{name: "$a", level: -1},
	{name: levels(MaxLevels), level: -1},
	{name: longName(MaxLength), level: -1},

	{name: "", level: 1},
	{name: ".", level: 1},
	{name: ".a", level: 1},
	{name: "a.", level: 2},
	{name: "events..x", level: 2},
	{name: "a.b.", level: 3},
	{name: "+", level: 1},
	{name: "#", level: 1},
	{name: "a.+", level: 2},
	{name: "a.#", level: 2},
	{name: "a.b+", level: 2},
	{name: "a b", level: 1},
	{name: "a/b", level: 1},
	{name: "a.b*", level: 2},
	{name: "caf\xc3\xa9", level: 1},
	{name: "a\x00", level: 1},
	{name: "x.\t", level: 2},
	{name: "$", level: 1},
	{name: "$.a", level: 1},
	{name: "$$a", level: 1},
	{name: "a$", level: 1},
	{name: "a.$SYS", level: 2},
	{name: "$SYS.$x", level: 2},
	{name: levels(MaxLevels + 1), limit: ErrTooManyLevels, level: MaxLevels + 1},
	{name: levels(40), limit: ErrTooManyLevels, level: MaxLevels + 1},
	{name: longName(MaxLength + 1), limit: ErrTooLong, level: 0},
}

type filterCase struct {
	filter  string
	limit   error
	level   int // as in nameCase
	literal bool
}

var filterCases = []filterCase{
	{filter: "a", level: -1, literal: true},
	{filter: "events.process.lifecycle", level: -1, literal: true},
	{filter: "$SYS.broker.stats", level: -1, literal: true},
	{filter: "+", level: -1},
	{filter: "#", level: -1},
	{filter: "events.#", level: -1},
	{filter: "events.+", level: -1},
	{filter: "+.process.+", level: -1},
	{filter: "+.#", level: -1},
	{filter: "$SYS.#", level: -1},
	{filter: "$SYS.+.stats", level: -1},
	{filter: repeatLevel("+", MaxLevels), level: -1},
	{filter: levels(MaxLevels-1) + ".#", level: -1},
	{filter: longName(MaxLength), level: -1, literal: true},

	{filter: "", level: 1},
	{filter: "a..b", level: 2},
	{filter: "a.", level: 2},
	{filter: "a.#.b", level: 2},
	{filter: "#.a", level: 1},
	{filter: "#.#", level: 1},
	{filter: "ev+", level: 1},
	{filter: "a.b#", level: 2},
	{filter: "a.+b", level: 2},
	{filter: "a.++", level: 2},
	{filter: "a.##", level: 2},
	{filter: "$+", level: 1},
	{filter: "$#", level: 1},
	{filter: "+.$SYS", level: 2},
	{filter: "$", level: 1},
	{filter: "a b.c", level: 1},
	{filter: repeatLevel("+", MaxLevels+1), limit: ErrTooManyLevels, level: MaxLevels + 1},
	{filter: levels(MaxLevels) + ".#", limit: ErrTooManyLevels, level: MaxLevels + 1},
	{filter: longName(MaxLength + 1), limit: ErrTooLong, level: 0},
}

type matchCase struct {
	filter, name string
	want         bool
}

var matchCases = []matchCase{
	{"a.b", "a.b", true},
	{"a.b", "a.b.c", false},
	{"a.b", "a", false},
	{"a.b", "a.c", false},
	{"events.process.lifecycle", "Events.process.lifecycle", false}, // case-sensitive
	{"events.#", "events", true},                                    // "#" matches zero levels
	{"events.#", "events.process", true},
	{"events.#", "events.process.lifecycle", true},
	{"events.#", "eventsx", false},
	{"events.#", "event", false},
	{"events.#", "control.events", false},
	{"events.+", "events", false}, // "+" does not match zero levels
	{"events.+", "events.process", true},
	{"events.+", "events.process.lifecycle", false},
	{"a.+.c", "a.b.c", true},
	{"a.+.c", "a.c", false},
	{"a.+.#", "a", false},
	{"a.+.#", "a.b", true},
	{"a.+.#", "a.b.c.d", true},
	{"+.+", "a.b", true},
	{"+.+", "a", false},
	{"+.+", "a.b.c", false},
	{"events.+.lifecycle", "events.process.lifecycle", true},
	{"events.+.lifecycle", "events.lifecycle", false},
	{"control.collector.task.+", "control.collector.task", false},
	{"+.broker.stats", "x.broker.stats", true},
	{"$SYS.#", "$SYSX.a", false},
	{"+", "a", true},
	{"+", "a.b", false},
	{"#", "a", true},
	{"#", "a.b.c", true},
	{"+.#", "a", true},

	// Wildcards in the first level never match reserved names...
	{"#", "$SYS", false},
	{"#", "$SYS.broker.stats", false},
	{"+", "$SYS", false},
	{"+.broker.stats", "$SYS.broker.stats", false},
	{"+.#", "$SYS.x", false},
	// ...but a literal reserved first level does.
	{"$SYS.#", "$SYS", true},
	{"$SYS.#", "$SYS.x", true},
	{"$SYS.#", "$SYS.broker.stats", true},
	{"$SYS.+", "$SYS", false},
	{"$SYS.+", "$SYS.x", true},
	{"$SYS.broker.stats", "$SYS.broker.stats", true},
	{"$SYS", "$SYS.x", false},
	{"$SYS.#", "$SYSX", false},
	{"$SYS.#", "SYS.x", false},

	// Limits.
	{repeatLevel("+", MaxLevels), levels(MaxLevels), true},
	{repeatLevel("+", MaxLevels), levels(MaxLevels - 1), false},
	{repeatLevel("+", MaxLevels-1) + ".#", levels(MaxLevels), true},
	{repeatLevel("+", MaxLevels-1) + ".#", levels(MaxLevels - 1), true},
	{levels(MaxLevels), levels(MaxLevels), true},
	{"#", levels(MaxLevels), true},
	{longName(MaxLength), longName(MaxLength), true},
	{"+.#", longName(MaxLength), true},
}
