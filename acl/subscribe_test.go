package acl_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/daemoneye/eventbus/acl"
	"github.com/daemoneye/eventbus/topic"
)

// receiveNames are the concrete topics a Filtered decision is checked on.
var receiveNames = []string{
	topic.Events,
	topic.EventsProcess,
	topic.EventsProcessLifecycle,
	topic.EventsProcessBatch,
	topic.EventsNetwork,
	topic.EventsNetwork + ".connections",
	topic.EventsNetwork + ".dns.query",
	topic.EventsFilesystem + ".connections",
	topic.Control,
	topic.ControlCollectorLifecycle,
	topic.ControlCollectorConfig,
	topic.ControlCollectorTask,
	topic.ControlCollectorTaskProcess,
	topic.ControlCollectorTaskNetwork,
	topic.ControlHealthHeartbeat,
	topic.ControlHealthStatus,
	topic.ControlHealthDiagnostics,
	topic.SysPrefix,
	topic.SysPrefix + ".broker.stats",
	"other",
}

type subscribeCase struct {
	principal, filter string
	want              acl.Decision
	reason            string // for Refused: a substring of the reason
	// receives lists, for Filtered, exactly the receiveNames that the
	// filter matches and the principal may receive.
	receives []string
}

func TestCheckSubscribeDefaults(t *testing.T) {
	p := acl.Default(0, 1000)
	checkSubscribeTable(t, p.Principal, []subscribeCase{
		{principal: "procmond", filter: topic.ControlCollectorTaskProcess, want: acl.Granted},
		{principal: "procmond", filter: topic.ControlCollectorConfig, want: acl.Granted},
		{principal: "procmond", filter: topic.ControlCollectorTaskNetwork, want: acl.Refused, reason: "no rule allows it"},
		{principal: "procmond", filter: "events.#", want: acl.Refused, reason: "no rule allows it"},
		{principal: "procmond", filter: "control.collector.task.+", want: acl.Filtered,
			receives: []string{topic.ControlCollectorTaskProcess}},
		{principal: "procmond", filter: "control.collector.#", want: acl.Filtered,
			receives: []string{topic.ControlCollectorLifecycle, topic.ControlCollectorConfig, topic.ControlCollectorTaskProcess}},

		{principal: acl.AgentName, filter: "events.#", want: acl.Granted},
		{principal: acl.AgentName, filter: topic.EventsProcessLifecycle, want: acl.Granted},
		{principal: acl.AgentName, filter: "#", want: acl.Filtered, receives: []string{
			topic.Events, topic.EventsProcess, topic.EventsProcessLifecycle, topic.EventsProcessBatch,
			topic.EventsNetwork, topic.EventsNetwork + ".connections", topic.EventsNetwork + ".dns.query",
			topic.EventsFilesystem + ".connections",
			topic.ControlHealthHeartbeat, topic.ControlHealthStatus, topic.ControlHealthDiagnostics,
		}},
		{principal: acl.AgentName, filter: "control.#", want: acl.Filtered, receives: []string{
			topic.ControlHealthHeartbeat, topic.ControlHealthStatus, topic.ControlHealthDiagnostics,
		}},
		{principal: acl.AgentName, filter: topic.ControlCollectorTaskProcess, want: acl.Refused, reason: "no rule allows it"},
		{principal: acl.AgentName, filter: "control.health.#", want: acl.Granted},
		{principal: acl.AgentName, filter: "$SYS.#", want: acl.Granted}, // the agent watches sessions come and go

		{principal: acl.OperatorName, filter: "#", want: acl.Granted},
		{principal: acl.OperatorName, filter: "$SYS.#", want: acl.Granted},
		{principal: acl.OperatorName, filter: topic.EventsProcessLifecycle, want: acl.Granted},
		{principal: acl.OperatorName, filter: "+.broker.stats", want: acl.Granted},
	})
}

func TestCheckSubscribeDeny(t *testing.T) {
	f := topic.MustParseFilter
	custom := &acl.Principal{
		Name: "watcher",
		UIDs: []uint32{1000},
		Subscribe: acl.Rules{
			Allow: []topic.Filter{f("events.#")},
			Deny:  []topic.Filter{f("events.network.#")},
		},
	}
	p, err := acl.New("test", custom)
	if err != nil {
		t.Fatal(err)
	}
	eventsButNetwork := []string{
		topic.Events, topic.EventsProcess, topic.EventsProcessLifecycle, topic.EventsProcessBatch,
		topic.EventsFilesystem + ".connections",
	}
	checkSubscribeTable(t, p.Principal, []subscribeCase{
		{principal: "watcher", filter: "events.#", want: acl.Filtered, receives: eventsButNetwork},
		{principal: "watcher", filter: "#", want: acl.Filtered, receives: eventsButNetwork},
		{principal: "watcher", filter: "events.network.#", want: acl.Refused, reason: "denied by events.network.#"},
		{principal: "watcher", filter: "events.network.+.query", want: acl.Refused, reason: "denied by events.network.#"},
		{principal: "watcher", filter: "events.network.connections", want: acl.Refused, reason: "denied by events.network.#"},
		{principal: "watcher", filter: "events.process.#", want: acl.Granted},
		{principal: "watcher", filter: "events.+.connections", want: acl.Filtered,
			receives: []string{topic.EventsFilesystem + ".connections"}},
		{principal: "watcher", filter: "events.+", want: acl.Filtered, receives: []string{topic.EventsProcess}},
		{principal: "watcher", filter: "control.#", want: acl.Refused, reason: "no rule allows it"},
	})
}

func checkSubscribeTable(t *testing.T, lookup func(string) *acl.Principal, cases []subscribeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.principal+"/"+tc.filter, func(t *testing.T) {
			pr := lookup(tc.principal)
			if pr == nil {
				t.Fatalf("no principal %q", tc.principal)
			}
			f := topic.MustParseFilter(tc.filter)
			got, reason := pr.CheckSubscribe(f)
			if got != tc.want {
				t.Fatalf("CheckSubscribe(%s) = %v (%q), want %v", tc.filter, got, reason, tc.want)
			}
			switch got {
			case acl.Refused:
				for _, m := range []string{tc.principal, tc.filter, tc.reason} {
					if !strings.Contains(reason, m) {
						t.Errorf("reason %q does not mention %q", reason, m)
					}
				}
			default:
				if reason != "" {
					t.Errorf("%v with reason %q, want none", got, reason)
				}
			}
			// Whatever the decision, the topics the filter would deliver
			// and CanReceive must agree with it.
			var receivable []string
			for _, name := range receiveNames {
				if f.Matches(name) && pr.CanReceive(name) {
					receivable = append(receivable, name)
				}
			}
			switch got {
			case acl.Refused:
				if len(receivable) > 0 {
					t.Errorf("refused, yet CanReceive allows %v", receivable)
				}
			case acl.Granted:
				for _, name := range receiveNames {
					if f.Matches(name) && !pr.CanReceive(name) {
						t.Errorf("granted, yet CanReceive(%s) is false", name)
					}
				}
			case acl.Filtered:
				if !slices.Equal(receivable, tc.receives) {
					t.Errorf("filtered %s receives %v, want %v", tc.filter, receivable, tc.receives)
				}
			}
		})
	}
}

func TestDecisionString(t *testing.T) {
	for d, want := range map[acl.Decision]string{acl.Refused: "refused", acl.Granted: "granted", acl.Filtered: "filtered"} {
		if got := d.String(); got != want {
			t.Errorf("Decision(%d).String() = %q, want %q", d, got, want)
		}
	}
}
