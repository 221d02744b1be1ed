// Package client is the Go client of the eventbus broker, for collector
// processes and tools.
//
// Dial connects to a broker's local endpoint and runs the handshake. Publish
// queues an event and returns at once; PublishConfirmed waits until the
// broker has routed it. Subscribe registers a handler for a topic filter and
// returns once the broker has granted or refused the subscription;
// SubscribeGroup does the same as a member of a queue group, among which
// the broker shares the matching events. Request publishes a request and
// waits for the first subscriber's Message.Respond. StartHeartbeat
// publishes health beats on HeartbeatTopic. Stats, ListSubscriptions and
// DisconnectSession are requests for administrators.
//
// # Goroutines
//
// Per connection, a reader goroutine handles the broker's frames, one
// writer goroutine batches outgoing frames into few writes, and one pinger
// keeps an idle connection alive. For the client's whole life, one
// supervisor goroutine replaces failed connections, one dispatcher
// goroutine runs message handlers, and one more passes state changes to
// Options.OnStateChange. Handlers run one at a time, in delivery order.
// When no handler is running and none is queued, the reader runs the
// handlers of what it just read itself, which spares a message that arrives
// alone the wake-up of the dispatcher; otherwise what it reads queues for
// the dispatcher. When handlers run on the reader for over a millisecond,
// or one waits for the broker's answer, or the connection fails, a new
// goroutine takes over reading and the old one stops once its handlers
// return: a handler never holds up reading, answers or reconnection.
//
// Handlers must not block for long: while they do, deliveries queue up, up
// to Options.DeliveryQueue, and then stay in the broker, which drops for
// this client once its queue there is full (each Message says how many
// were dropped before it). A handler may wait for the broker's answer to a
// Request, PublishConfirmed or Subscribe, but no other handler runs
// meanwhile, and once the delivery queue is full the reader stops, and
// with it the answer; a handler that waits often should start a goroutine
// for it.
//
// A subscriber that handles many events per second can set
// Options.ReuseMessages: the client then reuses the memory of delivered
// messages once their handlers return, instead of leaving it to the garbage
// collector, and a handler must Clone any message it keeps. Without it,
// each delivery allocates about 150 bytes plus its payload, and at a
// million events per second the collector takes about 30% of the
// subscriber's time; a larger GOGC (or a GOMEMLIMIT) in the subscriber's
// process makes its cycles rarer (docs/benchmarks.md measures both).
//
// # Reconnection
//
// Dial fails when its first connection fails. After that, when the
// connection or the broker fails, the client reconnects by itself
// (Options.Reconnect): it waits InitialDelay (100ms), then Multiplier (2)
// times longer before each next attempt, up to MaxDelay (5s), each wait
// spread by ±Jitter (20%); the waits restart from InitialDelay only once a
// connection has stayed up for MaxDelay. Each attempt redoes the handshake
// under ConnectTimeout, then re-establishes every subscription with its
// id, filter and queue group, then sends what was buffered, in order. A
// subscription the broker now refuses is removed and reported to
// Options.OnError as a *BrokerError. State goes Connected → Reconnecting →
// Connected; Connected is reported once the broker has answered every
// re-established subscription (or after ReplyTimeout). SessionID and
// Welcome then describe the new session. Err stays nil while the client
// reconnects.
//
// Failures that retrying cannot fix end the client instead (Done is closed,
// Err wraps ErrNotConnected and the reason, State is Closed): a handshake
// refused with NOT_AUTHORIZED (the claim), PROTOCOL_VERSION, BAD_HELLO or
// CRC_VARIANT, a CRC variant mismatch detected by the client, and a
// session ended with DISCONNECTED (an administrator's decision). A broker
// shutting down (SHUTTING_DOWN), a broker that is gone, refusing
// connections (TOO_MANY_CONNECTIONS) or timing out, a session closed for
// reading too slowly (SLOW_CONSUMER), and any other end of an established
// session are retried; so is a NOT_AUTHORIZED that ends an
// established session (a policy reload, too many refused publishes), and
// the next handshake then says whether the claim still holds. With
// Reconnect.Disabled the client ends with its first connection.
//
// # Buffering and delivery guarantees
//
// Every outgoing frame goes through one outbound buffer, bounded by
// Options.MaxPendingBytes and MaxPendingMessages in every state, connected
// or not; the frames being written count until they are written. When it is
// full, Options.WhenFull decides: Block waits for room until the
// operation's context ends (the error wraps ErrBufferFull and the context's
// error), FailFast returns an error wrapping ErrBufferFull at once. Nothing
// is dropped silently.
//
// While the client is reconnecting, publishes, requests and replies stay in
// the buffer and are sent, in order and once, on the next connection.
// Subscription changes are not buffered (the reconnection re-establishes
// the current subscriptions), nor are pings.
//
// A frame is written to a connection once and never again. If the
// connection fails, the frames already written (accepted by the kernel)
// may or may not have been handled by the broker, and are lost when they
// had not: Publish is at most once across a lost connection. The frames not yet written, including the
// unwritten rest of a partial write, stay buffered for the next connection.
// PublishConfirmed (and Request) tell the caller: success means the broker
// routed the event; an error wrapping ErrNotConnected that says "outcome is
// unknown" means the frame was written and the connection failed before the
// answer, and the caller may publish again (at least once). A
// PublishConfirmed still buffered goes on waiting across the reconnection;
// when its context ends first it is withdrawn from the buffer, never sent,
// and the error says so.
//
// Close flushes the buffer to the current connection, for at most
// WriteTimeout. While the client is reconnecting there is nothing to flush
// to: Close discards the buffered frames and logs how many.
//
// # Errors
//
// Every error is typed: use errors.Is with ErrNotConnected, ErrClosed,
// ErrRefused, ErrFrameTooLarge, ErrBadTopic, ErrBadFilter, ErrBadGroup,
// ErrNoReply, ErrBufferFull, ErrNoResponders and ErrNotARequest, and
// errors.As with *BrokerError for the broker's code and reason. Errors the
// broker reports asynchronously go to Options.OnError.
package client
