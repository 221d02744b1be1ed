// Package client is the Go client of the eventbus broker, for collector
// processes and tools.
//
// Dial connects to a broker's local endpoint and runs the handshake. Publish
// queues an event and returns at once; PublishConfirmed waits until the
// broker has routed it. Subscribe registers a handler for a topic filter and
// returns once the broker has granted or refused the subscription.
//
// One reader goroutine handles the broker's frames, one writer goroutine
// batches outgoing frames into few writes, and one dispatcher goroutine runs
// message handlers, in delivery order. Handlers must not block for long:
// while they do, deliveries queue up and then stay in the broker, which
// drops for this client once its queue there is full (each Message says how
// many were dropped before it).
//
// Every error is typed: use errors.Is with ErrNotConnected, ErrClosed,
// ErrRefused, ErrFrameTooLarge, ErrBadTopic and ErrBadFilter, and errors.As
// with *BrokerError for the broker's code and reason.
package client
