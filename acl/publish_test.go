package acl_test

import (
	"testing"

	"github.com/daemoneye/eventbus/acl"
	"github.com/daemoneye/eventbus/topic"
)

var publishNames = []string{
	topic.EventsProcessLifecycle,
	topic.EventsProcessBatch,
	topic.EventsNetwork + ".connections",
	topic.ControlCollectorLifecycle,
	topic.ControlCollectorTaskProcess,
	topic.ControlHealthHeartbeat,
	topic.ControlHealthStatus,
	topic.ControlHealthDiagnostics,
	topic.SysPrefix + ".broker.stats",
}

func TestCanPublishDefaults(t *testing.T) {
	p := acl.Default(0, 1000)
	for _, tc := range []struct {
		principal string
		allowed   []string // the publishNames it may publish to; all others are refused
	}{
		{"procmond", []string{topic.EventsProcessLifecycle, topic.EventsProcessBatch, topic.ControlHealthHeartbeat, topic.ControlHealthStatus}},
		{"netmond", []string{topic.EventsNetwork + ".connections", topic.ControlHealthHeartbeat, topic.ControlHealthStatus}},
		{acl.AgentName, []string{topic.ControlCollectorLifecycle, topic.ControlCollectorTaskProcess,
			topic.ControlHealthHeartbeat, topic.ControlHealthStatus, topic.ControlHealthDiagnostics}},
		{acl.OperatorName, nil},
	} {
		pr := p.Principal(tc.principal)
		if pr == nil {
			t.Fatalf("no principal %q", tc.principal)
		}
		c := acl.NewPublishCache(pr, 0)
		for _, name := range publishNames {
			want := false
			for _, a := range tc.allowed {
				want = want || a == name
			}
			if got := pr.CanPublish(name); got != want {
				t.Errorf("%s CanPublish(%s) = %v, want %v", tc.principal, name, got, want)
			}
			// Twice: the second answer comes from the cache.
			for i := range 2 {
				if got := c.Allowed(name); got != want {
					t.Errorf("%s PublishCache.Allowed(%s) #%d = %v, want %v", tc.principal, name, i+1, got, want)
				}
			}
		}
	}
}
