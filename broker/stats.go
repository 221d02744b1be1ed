package broker

import (
	"log/slog"
	"sync"
	"sync/atomic"
)

// counters are the broker-wide statistics, updated lock-free.
type counters struct {
	accepted           atomic.Uint64
	refusedFull        atomic.Uint64
	handshakeFailed    atomic.Uint64
	protocolErrors     atomic.Uint64
	published          atomic.Uint64
	routed             atomic.Uint64 // events queued to a receiver
	dropped            atomic.Uint64 // events a full receiver queue lost
	badPublishes       atomic.Uint64
	claimsRefused      atomic.Uint64
	refusalDisconnects atomic.Uint64
	subscriptionLimit  atomic.Uint64
	badSubscriptions   atomic.Uint64 // subscriptions refused for their filter or group
	requestLimit       atomic.Uint64 // requests refused at MaxPendingRequests
	handshakeTimeouts  atomic.Uint64
	idleTimeouts       atomic.Uint64
	writeTimeouts      atomic.Uint64
	pendingReplies     atomic.Uint64
	groupFull          atomic.Uint64 // events no member of a queue group had room for
	slowDisconnects    atomic.Uint64
	flowWaits          atomic.Uint64 // reads after which a publisher waited for receivers at their mark
	flowGiveUps        atomic.Uint64 // receivers publishers stopped waiting for
}

// Stats is a snapshot of the broker's counters.
type Stats struct {
	// Sessions is the number of connected sessions.
	Sessions int
	// Accepted counts every accepted connection, refused ones included.
	Accepted uint64
	// RefusedTooMany counts connections refused at the connection limit.
	RefusedTooMany uint64
	// HandshakeFailed counts connections that never completed a handshake.
	HandshakeFailed uint64
	// ProtocolErrors counts sessions closed for a malformed frame or a
	// message out of place.
	ProtocolErrors uint64
	// Published counts accepted publishes; BadPublishes refused ones.
	Published    uint64
	BadPublishes uint64
	// Routed counts events queued to receivers (one per receiving session);
	// Dropped counts those lost to a full receiver queue.
	Routed  uint64
	Dropped uint64
	// ClaimsRefused counts handshakes refused because the policy does not
	// let the peer claim the name it gave.
	ClaimsRefused uint64
	// Limit hits: sessions disconnected for too many refused publishes,
	// subscriptions refused at the per-session limit, sessions closed by the
	// handshake, idle and write timeouts, and by unread replies piling up.
	RefusalDisconnects  uint64
	SubscriptionLimit   uint64
	HandshakeTimeouts   uint64
	IdleTimeouts        uint64
	WriteTimeouts       uint64
	PendingRepliesLimit uint64
	// BadSubscriptions counts subscriptions refused for a malformed or too
	// long filter, or a malformed queue group; RequestLimit counts requests
	// refused because their session had MaxPendingRequests open already.
	BadSubscriptions uint64
	RequestLimit     uint64
	// GroupFull counts events dropped because every member of a queue group
	// was full; SlowConsumers counts receivers disconnected for dropping
	// longer than Config.SlowConsumerTimeout.
	GroupFull     uint64
	SlowConsumers uint64
	// FlowControlWaits counts the reads of a publisher's input after which
	// its session waited because a receiver it had fed was at its
	// flow-control mark (Config.FlowControlMessages); FlowControlGiveUps counts the times a receiver took nothing
	// during such a wait, and was then not waited for until it took
	// something.
	FlowControlWaits   uint64
	FlowControlGiveUps uint64
	// Subscriptions is the number of live subscriptions.
	Subscriptions int
	// RouteCache reports the topic index's route cache. Hits include
	// those of the publishing sessions' memos of their last topic, added
	// each time a session has handled what it read, so they may lag the
	// misses by one read's worth.
	RouteCacheHits, RouteCacheMisses uint64
	RouteCacheSize                   int
}

// Stats returns a snapshot of the broker's counters.
func (b *Broker) Stats() Stats {
	b.mu.Lock()
	n := len(b.sessions)
	b.mu.Unlock()
	is := b.index.Stats()
	c := &b.counters
	return Stats{
		Sessions:            n,
		Accepted:            c.accepted.Load(),
		RefusedTooMany:      c.refusedFull.Load(),
		HandshakeFailed:     c.handshakeFailed.Load(),
		ProtocolErrors:      c.protocolErrors.Load(),
		Published:           c.published.Load(),
		BadPublishes:        c.badPublishes.Load(),
		Routed:              c.routed.Load(),
		Dropped:             c.dropped.Load(),
		ClaimsRefused:       c.claimsRefused.Load(),
		RefusalDisconnects:  c.refusalDisconnects.Load(),
		SubscriptionLimit:   c.subscriptionLimit.Load(),
		BadSubscriptions:    c.badSubscriptions.Load(),
		RequestLimit:        c.requestLimit.Load(),
		HandshakeTimeouts:   c.handshakeTimeouts.Load(),
		IdleTimeouts:        c.idleTimeouts.Load(),
		WriteTimeouts:       c.writeTimeouts.Load(),
		PendingRepliesLimit: c.pendingReplies.Load(),
		GroupFull:           c.groupFull.Load(),
		SlowConsumers:       c.slowDisconnects.Load(),
		FlowControlWaits:    c.flowWaits.Load(),
		FlowControlGiveUps:  c.flowGiveUps.Load(),
		Subscriptions:       b.index.Count(),
		RouteCacheHits:      is.Hits,
		RouteCacheMisses:    is.Misses,
		RouteCacheSize:      is.Size,
	}
}

// limitLog logs a broker-wide limit once when it is first hit and once when
// the episode ends, however often it is hit in between.
type limitLog struct {
	log    *slog.Logger
	mu     sync.Mutex
	active map[string]bool
}

// Broker-wide limits whose episodes limitLog tracks.
const (
	limitConnections = "max_connections"
	limitHandshake   = "handshake_timeout"
)

func (l *limitLog) hit(limit, msg string, args ...any) {
	l.mu.Lock()
	first := !l.active[limit]
	if first {
		if l.active == nil {
			l.active = make(map[string]bool)
		}
		l.active[limit] = true
	}
	l.mu.Unlock()
	if first {
		l.log.Warn(msg, append([]any{"limit", limit}, args...)...)
	}
}

func (l *limitLog) clear(limit, msg string, args ...any) {
	l.mu.Lock()
	was := l.active[limit]
	delete(l.active, limit)
	l.mu.Unlock()
	if was {
		l.log.Info(msg, append([]any{"limit", limit}, args...)...)
	}
}
