package topic_test

import (
	"errors"
	"fmt"
	"slices"

	"github.com/daemoneye/eventbus/topic"
)

func ExampleValidateName() {
	for _, name := range []string{topic.EventsProcessLifecycle, "$SYS.broker.stats", "events..x", "events.+"} {
		fmt.Println(topic.ValidateName(name))
	}
	// Output:
	// <nil>
	// <nil>
	// topic: invalid name "events..x": level 2 is empty
	// topic: invalid name "events.+": level 2 "+" contains wildcard '+', which names may not
}

func ExampleParseFilter() {
	_, err := topic.ParseFilter("a.#.b")
	fmt.Println(err)

	var e *topic.Error
	if errors.As(err, &e) {
		fmt.Println(errors.Is(err, topic.ErrInvalidFilter), e.Level, e.Text)
	}
	// Output:
	// topic: invalid filter "a.#.b": level 2 "#" must be the last level
	// true 2 #
}

func ExampleFilter_Matches() {
	f := topic.MustParseFilter("events.process.#")
	for _, name := range []string{"events.process", topic.EventsProcessLifecycle, topic.EventsNetwork} {
		fmt.Println(name, f.Matches(name))
	}

	// Filters that start with a wildcard skip broker-reserved topics.
	fmt.Println(topic.MustParseFilter("#").Matches("$SYS.broker.stats"))
	fmt.Println(topic.MustParseFilter("$SYS.#").Matches("$SYS.broker.stats"))
	// Output:
	// events.process true
	// events.process.lifecycle true
	// events.network false
	// false
	// true
}

func ExampleCollectorTaskTopic() {
	fmt.Println(topic.CollectorTaskTopic("process"))
	// Output: control.collector.task.process
}

func ExampleIndex() {
	// The route here is the sorted, deduplicated subscriber names; the broker
	// compiles something richer.
	idx := topic.NewIndex(func(_ string, subs []string) []string {
		slices.Sort(subs)
		return slices.Compact(subs)
	}, topic.IndexOptions{})

	idx.Insert(topic.MustParseFilter("events.process.#"), "detector")
	idx.Insert(topic.MustParseFilter("events.+.lifecycle"), "audit")
	idx.Insert(topic.MustParseFilter("#"), "audit")

	fmt.Println(idx.Match(topic.EventsProcessLifecycle))
	fmt.Println(idx.Match(topic.ControlHealthHeartbeat))
	fmt.Println(idx.Match("$SYS.broker.stats"))

	idx.Remove(topic.MustParseFilter("#"), "audit")
	fmt.Println(idx.Match(topic.ControlHealthHeartbeat), idx.Count())
	// Output:
	// [audit detector]
	// [audit]
	// []
	// [] 2
}
