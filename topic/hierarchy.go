package topic

// The topic hierarchy shared by the agent, its collectors and the broker.
// docs/topics.md lists who publishes and who subscribes to each topic.
const (
	// Events is the root of everything collectors observe.
	Events = "events"

	// EventsProcess is the process collector's namespace.
	EventsProcess          = "events.process"
	EventsProcessLifecycle = "events.process.lifecycle" // process start, exit
	EventsProcessMetadata  = "events.process.metadata"  // command line, user, executable details
	EventsProcessTree      = "events.process.tree"      // parent/child relationships
	EventsProcessIntegrity = "events.process.integrity" // executable hash and signature checks
	EventsProcessAnomaly   = "events.process.anomaly"   // findings from detection rules
	EventsProcessBatch     = "events.process.batch"     // many process records in one message

	// Namespaces reserved for future collectors. Nothing publishes to them
	// yet; subscribers may already use filters such as "events.network.#".
	EventsNetwork     = "events.network"
	EventsFilesystem  = "events.filesystem"
	EventsPerformance = "events.performance"

	// Control is the root of agent-to-collector coordination.
	Control = "control"

	ControlCollectorLifecycle = "control.collector.lifecycle" // start, stop, ready, stopping
	ControlCollectorConfig    = "control.collector.config"    // configuration pushes and acknowledgements

	// ControlCollectorTask is the prefix of task topics; see CollectorTaskTopic.
	ControlCollectorTask            = "control.collector.task"
	ControlCollectorTaskProcess     = "control.collector.task.process"
	ControlCollectorTaskNetwork     = "control.collector.task.network"
	ControlCollectorTaskFilesystem  = "control.collector.task.filesystem"
	ControlCollectorTaskPerformance = "control.collector.task.performance"

	ControlHealthHeartbeat   = "control.health.heartbeat"   // periodic liveness
	ControlHealthStatus      = "control.health.status"      // state changes and status replies
	ControlHealthDiagnostics = "control.health.diagnostics" // on-demand diagnostic dumps
	ControlHealthPresence    = "control.health.presence"    // requests for the presence table

	// SysPrefix is the first level of broker-reserved topics such as
	// "$SYS.broker.stats". Only the broker publishes under it, and filters
	// that start with a wildcard never match it.
	SysPrefix = "$SYS"

	// Broker events. Their payloads are eventbus.v1 messages: SessionEvent
	// for the session topics, BrokerStats for the statistics.
	SysSessionConnected    = "$SYS.session.connected"
	SysSessionDisconnected = "$SYS.session.disconnected"
	SysSessionRefused      = "$SYS.session.refused"
	SysSessionSlow         = "$SYS.session.slow"
	SysBrokerStats         = "$SYS.broker.stats"
)

// CollectorTaskTopic returns the task topic for a collector kind, for example
// "control.collector.task.process" for "process". The result is a valid name
// only if kind is a valid single level; check it with [ValidateName] when kind
// comes from outside the program.
func CollectorTaskTopic(kind string) string {
	return ControlCollectorTask + "." + kind
}
