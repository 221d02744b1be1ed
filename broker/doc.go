// Package broker is the eventbus broker: it accepts local connections, runs
// the handshake, keeps each session's subscriptions and routes every publish
// to every matching subscription, in process or over a socket.
//
// A Broker is embeddable in any Go program. The hosting program (normally the
// agent) gives it listeners with Serve, and can publish and subscribe in
// process with Publish and Subscribe, without a socket. Shutdown stops it
// gracefully.
//
// Routing is O(levels) through a topic.Index. A bounded, set-associative
// cache of compiled routes (receivers grouped, subscription ids collected)
// makes a topic seen before cost one hash and a scan of one set, and each
// client session remembers the route of the topic it published last
// (topic.Memo), so that a stream on one topic touches no shared cache line.
// Subscribing or unsubscribing advances the index's generation, which
// invalidates both at once. A delivered event is encoded once; every socket
// receiver gets the same bytes plus a small per-receiver suffix
// (wire.AppendDeliveryFrame).
//
// Each session owns a bounded outbound queue drained by one writer goroutine
// that batches queued frames into few writes. When a read of a publisher's
// input leaves an idle receiver only a few frames, the router writes them
// itself, as far as the socket takes them without waiting, rather than
// wake the receiver's writer (see writer.go).
//
// Flow control paces a publisher to the receivers it feeds: after each
// read of its input, its session waits, at most Config.FlowControlWait,
// for any of those receivers whose queue has reached its flow-control mark
// to drain below it. A receiver that takes nothing meanwhile is not waited
// for again until it takes something, so a stuck one costs its publishers
// one wait; the mark sits far below the queue's limit, so that such a
// receiver still has room. When a receiver's queue is full all the same, the event is dropped for that
// receiver only, counted, and reported to it in its next delivery.
package broker
