// Command ebbench benchmarks the event bus across real processes, in the
// manner of `nats bench`.
//
// Every publisher, subscriber, requester, responder, relay and the broker
// runs in its own OS process: ebbench runs itself again with a hidden -role
// argument for each, tells the children when to start over their stdin,
// and reads their progress and results, as JSON lines, from their stdout.
// By default it starts its own broker in a fresh temporary directory; with
// -socket it uses a running one. It removes the directory and kills every
// child when it ends, also on SIGINT, and bounds every wait by a timeout.
//
//	go run ./cmd/ebbench                    # every scenario, table on stdout
//	go run ./cmd/ebbench -raw               # also the raw and relay baselines
//	go run ./cmd/ebbench -quick -json       # small counts, one JSON document
//	go run ./cmd/ebbench -scenarios latency,reqrep -rate 50000
//
// # Scenarios
//
//   - pubsub-1x1, pubsub-1x4 (fan-out) and pubsub-4x1 (fan-in): the
//     subscribers subscribe first, then each publisher publishes -count
//     messages of -size bytes as fast as the client takes them (Publish,
//     WhenFull Block) and ends with a PublishConfirmed, a barrier after
//     which the broker has routed all of them. The subscribers count what
//     arrives, note sequence gaps and the broker's drop counts, and stop
//     when everything arrived or after 2 s without a message once the
//     publishers are done. Reported: delivered msgs/s summed over
//     subscribers, payload bytes/s, loss, seconds from the first publish
//     to the last delivery, and the CPU time, user and system, that the
//     broker, the publishers and the subscribers spent per delivery (each
//     process reports its own getrusage; with -socket, ebbench cannot ask
//     the broker and reports no CPU time for the run).
//   - latency: one publisher paced at -rate msg/s sends -latency-count
//     messages (or for -latency-duration); each payload carries its send
//     time and the subscriber records receive − send in an HDR histogram.
//   - reqrep: one requester makes -reqrep-count sequential requests to one
//     responder process; round trips/s and their latency percentiles.
//
// With -raw, the baselines: raw-1x1 writes the same Deliver frames (built
// with package wire, same payload size) from a publisher process straight
// over a Unix socket to a subscriber process, which reads and decodes each
// with wire.NewReader; relay-1x1 does the same through a process that only
// copies bytes between two sockets; raw-latency and relay-latency at the
// paced rate. They are the physical floor: the table shows every eventbus
// row as a ratio to the relay rows.
//
// # The broker
//
// The bench broker runs the default configuration and policy, production
// queue limits included: a subscriber that falls behind slows its
// publishers through the broker's flow control, and the loss column says
// how many events it lost all the same. -reuse-messages runs subscribers
// and responders with client.Options.ReuseMessages, and -crc castagnoli
// uses CRC-32C on every connection. -broker-queue changes the queue
// per receiver. At the end, ebbench reports the broker's counters of
// published, routed and dropped events and of flow-control pauses.
// Publishers claim procmond and
// publish on events.process.bench, subscribers and the requester claim
// daemoneye-agent, and the responder claims procmond to answer on
// control.health.diagnostics, all of which the default policy allows to
// the broker's own user. With -socket, -pub-name, -sub-name, -req-name,
// -resp-name, -topic and -req-topic choose other names.
//
// To profile the broker, give -cpuprofile FILE and/or -memprofile FILE: the
// broker process writes them (runtime/pprof) when it shuts down at the end
// of the run. Inspect them with `go tool pprof FILE`. -scenarios narrows the
// profile to one workload. A broker started by hand takes the same flags:
//
//	ebbench -role broker -socket /tmp/bench/bus.sock -cpuprofile cpu.out &
//	ebbench -socket /tmp/bench/bus.sock -scenarios pubsub-1x1
//	kill %1     # SIGINT or SIGTERM: the broker shuts down, writing cpu.out
//
// # Output
//
// Progress (scenario, messages so far, rate) goes to stderr at most every
// 500 ms. Results go to stdout: a table, or with -json one document in the
// schema of internal/benchfmt, which a comparison program for other
// systems writes too.
//
// ebbench needs Unix domain sockets and process groups: it builds only for
// Unix systems and elsewhere reports that it is unsupported.
package main
