package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/daemoneye/eventbus/acl"
	"github.com/daemoneye/eventbus/topic"
	"github.com/daemoneye/eventbus/transport"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// Errors returned by the broker's API.
var (
	// ErrClosed is returned by Serve, Publish and Subscribe once Shutdown or
	// Close has begun.
	ErrClosed = errors.New("broker: closed")
)

// Identity describes who is on the other end of a session: what the kernel
// says, and what the client claims.
type Identity struct {
	SessionID  uint64
	ClientName string
	InstanceID string
	// Credentials come from the kernel at accept time; HasCredentials is
	// false for in-process sessions and platforms that cannot report them.
	Credentials    transport.PeerCredentials
	HasCredentials bool
}

// LogValue lets an Identity appear in every log line about its session.
func (id Identity) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.Uint64("session", id.SessionID),
		slog.String("name", id.ClientName),
	}
	if id.InstanceID != "" {
		attrs = append(attrs, slog.String("instance", id.InstanceID))
	}
	if id.HasCredentials {
		attrs = append(attrs, slog.Any("peer", id.Credentials))
	}
	return slog.GroupValue(attrs...)
}

// Broker routes events between sessions. Create it with New.
type Broker struct {
	cfg      Config
	log      *slog.Logger
	index    *topic.Index[*subscription, *route]
	policy   atomic.Pointer[acl.Admitter]
	requests *requests
	topics   *topicRegistry
	started  time.Time
	// sysPublisher is who $SYS events come from.
	sysPublisher *pb.Publisher

	nextSessionID atomic.Uint64
	counters      counters
	limits        limitLog

	mu        sync.Mutex // guards the fields below
	listeners map[net.Listener]struct{}
	sessions  map[uint64]*session
	closing   bool

	conns    sync.WaitGroup // one per accepted connection, until its goroutines end
	closedCh chan struct{}  // closed when shutdown begins
	local    *localSession  // the hosting program's own session, created lazily
}

// New returns a broker with cfg; zero fields take their defaults.
func New(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	b := &Broker{
		cfg:       cfg,
		log:       cfg.Logger,
		listeners: make(map[net.Listener]struct{}),
		sessions:  make(map[uint64]*session),
		closedCh:  make(chan struct{}),
	}
	b.limits.log = cfg.Logger
	b.policy.Store(&cfg.Policy)
	b.requests = newRequests()
	b.topics = newTopicRegistry(cfg.MaxTopicStats)
	b.started = time.Now()
	b.sysPublisher = &pb.Publisher{ClientName: sysPublisherName}
	b.index = topic.NewIndex[*subscription, *route](b.compile, topic.IndexOptions{CacheSize: cfg.RouteCacheSize})
	if cfg.StatsInterval > 0 {
		go b.publishStatsEvery(cfg.StatsInterval)
	}
	return b, nil
}

// Config returns the configuration in force, with defaults filled in.
func (b *Broker) Config() Config { return b.cfg }

// Serve accepts connections on ln until the broker shuts down or ln fails.
// It always closes ln. After Shutdown it returns ErrClosed.
func (b *Broker) Serve(ln net.Listener) error {
	if !b.trackListener(ln, true) {
		ln.Close()
		return ErrClosed
	}
	defer b.trackListener(ln, false)
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if b.isClosing() {
				return ErrClosed
			}
			if isResourceShortage(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				b.log.Warn("accept failed; retrying", "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("broker: accept: %w", err)
		}
		backoff = 0
		b.accept(conn)
	}
}

// isResourceShortage reports an Accept failure that passes once file
// descriptors or buffers are freed, so the loop keeps serving.
func isResourceShortage(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

func (b *Broker) trackListener(ln net.Listener, add bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if add {
		if b.closing {
			return false
		}
		b.listeners[ln] = struct{}{}
		return true
	}
	if _, ok := b.listeners[ln]; ok {
		delete(b.listeners, ln)
		ln.Close()
	}
	return true
}

func (b *Broker) isClosing() bool {
	select {
	case <-b.closedCh:
		return true
	default:
		return false
	}
}

// Shutdown stops accepting connections, tells every session the broker is
// shutting down, flushes what is queued for it and closes it. It returns when
// every session has ended or ctx is done, whichever comes first; in the
// latter case remaining connections are closed at once.
func (b *Broker) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	if !b.closing {
		b.closing = true
		close(b.closedCh)
		for ln := range b.listeners {
			ln.Close()
			delete(b.listeners, ln)
		}
	}
	sessions := make([]*session, 0, len(b.sessions))
	for _, s := range b.sessions {
		sessions = append(sessions, s)
	}
	local := b.local
	b.mu.Unlock()

	for _, s := range sessions {
		s.shutdown()
	}
	if local != nil {
		local.close()
	}
	done := make(chan struct{})
	go func() { b.conns.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, s := range sessions {
			s.abort()
		}
		<-done
		return ctx.Err()
	}
}

// Close shuts the broker down without waiting for queues to drain.
func (b *Broker) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := b.Shutdown(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// accept admits conn as a new session or refuses it when the broker is full.
func (b *Broker) accept(conn net.Conn) {
	b.counters.accepted.Add(1)
	id := Identity{SessionID: b.nextSessionID.Add(1)}
	creds, credErr := transport.PeerCredentialsOf(conn)
	if credErr == nil {
		id.Credentials, id.HasCredentials = creds, true
	}
	s := newSession(b, conn, id)
	s.credErr = credErr

	b.mu.Lock()
	switch {
	case b.closing:
		b.mu.Unlock()
		s.refuse(refuseShuttingDown)
		return
	case len(b.sessions) >= b.cfg.MaxConnections:
		b.mu.Unlock()
		b.counters.refusedFull.Add(1)
		b.limits.hit(limitConnections, "connection refused: too many connections", "limit", b.cfg.MaxConnections, "session", id)
		s.refuse(refuseTooMany)
		return
	}
	b.sessions[id.SessionID] = s
	b.conns.Add(1)
	b.mu.Unlock()
	go s.run()
}

// removeSession forgets s; called once by s when it ends.
func (b *Broker) removeSession(s *session) {
	b.mu.Lock()
	delete(b.sessions, s.id.SessionID)
	n := len(b.sessions)
	b.mu.Unlock()
	if n < b.cfg.MaxConnections {
		b.limits.clear(limitConnections, "connections below the limit again", "sessions", n)
	}
}

// Sessions returns the identities of the connected sessions.
func (b *Broker) Sessions() []Identity {
	b.mu.Lock()
	defer b.mu.Unlock()
	ids := make([]Identity, 0, len(b.sessions))
	for _, s := range b.sessions {
		if id, ok := s.identity(); ok {
			ids = append(ids, id)
		}
	}
	return ids
}
