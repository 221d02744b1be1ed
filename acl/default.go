package acl

import "github.com/daemoneye/eventbus/topic"

// Names of the built-in principals.
const (
	AgentName    = "daemoneye-agent"
	OperatorName = "ebctl"
)

// collectorKinds maps each collector's client name to the kind that names
// its event namespace and task topic.
var collectorKinds = []struct{ name, kind string }{
	{"procmond", "process"},
	{"netmond", "network"},
	{"fsmond", "filesystem"},
	{"perfmond", "performance"},
}

// DefaultPrincipals returns the built-in roles, claimable by the given uids
// (typically root and the broker's own user). On Windows, where peers are
// identified by SID and uids mean nothing, they are claimable by SYSTEM
// (SystemSID) and the broker's own user instead. The roles are:
//
//   - daemoneye-agent publishes control.#, subscribes events.#,
//     control.health.# and $SYS.#, and may use admin requests.
//   - procmond, netmond, fsmond and perfmond each publish their own
//     events.<kind>.# plus control.health.heartbeat and control.health.status,
//     and subscribe control.collector.lifecycle, control.collector.config,
//     control.collector.task.<kind>, and control.health.diagnostics to answer
//     the agent's diagnostics requests.
//   - ebctl, the operator's tool, may watch everything (# and $SYS.#) and
//     publish nothing.
func DefaultPrincipals(uids ...uint32) []*Principal {
	return defaultPrincipals(uids, platformDefaultSIDs())
}

// defaultPrincipals returns the built-in roles, claimable by uids and sids.
func defaultPrincipals(uids []uint32, sids []string) []*Principal {
	f := topic.MustParseFilter
	ps := []*Principal{
		{
			Name:      AgentName,
			UIDs:      uids,
			SIDs:      sids,
			Publish:   Rules{Allow: []topic.Filter{f("control.#")}},
			Subscribe: Rules{Allow: []topic.Filter{f("events.#"), f("control.health.#"), f(topic.SysPrefix + ".#")}},
			Admin:     true,
		},
		{
			Name:      OperatorName,
			UIDs:      uids,
			SIDs:      sids,
			Subscribe: Rules{Allow: []topic.Filter{f("#"), f(topic.SysPrefix + ".#")}},
		},
	}
	for _, c := range collectorKinds {
		ps = append(ps, &Principal{
			Name: c.name,
			UIDs: uids,
			SIDs: sids,
			Publish: Rules{Allow: []topic.Filter{
				f("events." + c.kind + ".#"), f(topic.ControlHealthHeartbeat), f(topic.ControlHealthStatus),
			}},
			Subscribe: Rules{Allow: []topic.Filter{
				f(topic.ControlCollectorLifecycle), f(topic.ControlCollectorConfig), f(topic.CollectorTaskTopic(c.kind)),
				f(topic.ControlHealthDiagnostics),
			}},
		})
	}
	return ps
}

// Default returns the built-in policy with DefaultPrincipals(uids...). It
// panics when uids is empty (and, on Windows, no SID applies either): such a
// policy would admit nobody.
func Default(uids ...uint32) *Policy {
	p, err := New("built-in default", DefaultPrincipals(uids...)...)
	if err != nil {
		panic("acl: built-in policy is invalid: " + err.Error())
	}
	return p
}
