// Package presence tracks which collectors are alive from their heartbeats.
//
// Collectors publish a pb.Heartbeat on control.health.heartbeat every few
// seconds. The presence tracker keeps one entry per collector, keyed by
// (collector name, instance id), in one of three states:
//
//	ALIVE         it beats within its deadline
//	LOST          it missed MissedBeats beat intervals but its session did not end
//	DISCONNECTED  the broker session of its last beat ended
//
// and reports each change with a reason:
//
//	(unknown)              -> ALIVE         "first heartbeat"
//	ALIVE                  -> LOST          "missed 3 beats (15s)"
//	ALIVE or LOST          -> DISCONNECTED  "connection ended: timeout"
//	LOST or DISCONNECTED   -> ALIVE         "heartbeat resumed"
//	ALIVE                  -> ALIVE         `status "ok" -> "degraded"` (a new status word)
//
// A collector whose broker session ends turns DISCONNECTED at once, like an
// MQTT last will: the broker's $SYS.session.disconnected event names the
// session, and the tracker remembers which session each collector last beat
// from. A collector that stays connected but stops beating (hung, or
// stopped in a debugger) turns LOST after MissedBeats intervals. The next
// heartbeat turns either back to ALIVE.
//
// The package has two layers, in the etcd raft manner:
//
//   - Tracker is the pure state machine. It does no I/O, starts no
//     goroutine and never reads the clock: every method takes the current
//     time and returns the transitions as data. It is not safe for
//     concurrent use.
//   - Service is the edge. It subscribes to the heartbeat and session
//     topics on a Bus, drives one Tracker from one goroutine with a ticker,
//     publishes each transition as a pb.CollectorStatus on
//     control.health.status, and answers requests on
//     control.health.presence with a pb.PresenceTable.
//
// A program that embeds the broker runs the service in process:
//
//	b, err := broker.New(broker.Config{LocalName: "daemoneye-agent"})
//	...
//	go presence.Run(ctx, presence.OnBroker(b), presence.Config{})
//
// The broker names the publisher of every event, so the service counts a
// heartbeat only for the session that published it: a heartbeat that names
// another collector is refused, and the session id in the heartbeat is
// replaced by the broker's.
package presence
