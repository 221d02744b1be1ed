package broker

import (
	"testing"

	"github.com/daemoneye/eventbus/acl"
	"github.com/daemoneye/eventbus/topic"
)

// BenchmarkCheckPublish measures the checks of every publish (length,
// validity, reserved prefix, policy) for a stream on one topic, and for
// topics that alternate, which the session's memo of its last allowed topic
// does not cover.
func BenchmarkCheckPublish(b *testing.B) {
	s := &session{b: &Broker{cfg: DefaultConfig()}}
	s.auth.Store(newSessionAuth(&acl.Principal{
		Name: "collector", UIDs: []uint32{0},
		Publish: acl.Rules{Allow: []topic.Filter{topic.MustParseFilter("events.#")}},
	}))
	names := []string{"events.process.lifecycle", "events.network.connection"}
	for _, bc := range []struct {
		name   string
		topics int
	}{{"stream", 1}, {"alternating", 2}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := s.checkPublish(names[i%bc.topics]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
