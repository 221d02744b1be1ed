package broker

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/topic"
	"github.com/daemoneye/eventbus/transport"
	"github.com/daemoneye/eventbus/wire"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// maxPendingReplies bounds the control frames (acks, pongs, errors) queued
// for one session. A client that keeps asking without reading hits it and is
// closed.
const maxPendingReplies = 1024

// Flushing and buffer sizes of the session writer.
const (
	flushThreshold = 256 << 10
	keepBufferCap  = 1 << 20
)

// session is one client connected over a socket. Its reader goroutine runs
// the handshake and every request; its writer goroutine drains the outbound
// queue.
type session struct {
	b    *Broker
	conn net.Conn
	rd   *wire.Reader
	crc  wire.CRC
	q    *queue

	mu          sync.Mutex // guards id, established and subs; held while subs are checked against auth
	id          Identity
	established bool
	subs        map[uint32]*subscription
	publisher   *pb.Publisher // set once by the handshake, read-only after
	// publisherRaw is publisher encoded once, for every Deliver.
	publisherRaw []byte
	// credErr says why the peer's credentials could not be read, if so.
	credErr error

	// auth is the session's principal under the policy in force, with its
	// publish decision cache. A policy reload swaps it; only the reader
	// goroutine uses the cache.
	auth atomic.Pointer[sessionAuth]

	log      *slog.Logger
	kicked   atomic.Pointer[endCause] // set when someone else ends the session
	dropping atomic.Bool              // in an episode of a full queue
	// unreadReplies is set once the session is closed for not reading its
	// replies, so that the limit is counted and logged once.
	unreadReplies atomic.Bool
	writerDone    chan struct{}

	// writing is held by whoever writes to conn (see writer.go). tw, if
	// the connection allows, writes without waiting, for writeNow; direct
	// is writeNow's buffer, and pending what it left unwritten, which the
	// writer goroutine sends first. Both belong to the holder of writing.
	writing atomic.Bool
	tw      *transport.TryWriter
	direct  []byte
	pending []byte

	// Reader goroutine only: receivers to wake when the buffered input is
	// handled, the counts of that input, the route of the topic published
	// last (a stream on one topic skips the shared cache), the topic
	// checkPublish allowed last and the policy it was allowed under (a
	// stream on one topic is checked once), refused publishes in the
	// current window, and whether the subscription limit was logged.
	wake    wakeups
	tally   routeTally
	routes  *topic.Memo[*subscription, *route]
	allowed struct {
		name string
		by   *sessionAuth
	}
	received      int64 // when the frames being handled were read, in Unix nanoseconds
	refusals      int
	refusalWindow time.Time
	// subLimitLogged, badFilterLogged and requestLimitLogged make each of
	// those refusals logged once per session.
	subLimitLogged, badFilterLogged, requestLimitLogged bool

	published, delivered, dropped atomic.Uint64
	bytesIn, bytesOut             atomic.Uint64
	connected                     time.Time
	dropStart                     atomic.Int64 // when the current drop episode began, in Unix nanoseconds
}

func newSession(b *Broker, conn net.Conn, id Identity) *session {
	return &session{
		b:          b,
		conn:       conn,
		rd:         wire.NewReader(conn, b.cfg.Wire),
		crc:        b.cfg.Wire.CRC,
		q:          newQueue(b.cfg.queueLimits(), maxPendingReplies),
		id:         id,
		subs:       make(map[uint32]*subscription),
		routes:     topic.NewMemo(b.index),
		log:        b.log.With("session", id),
		writerDone: make(chan struct{}),
		connected:  time.Now(),
	}
}

// identity returns the session's identity once the handshake is complete.
func (s *session) identity() (Identity, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id, s.established
}

// endCause says why a session ended, and what, if anything, to tell the peer.
type endCause struct {
	reason string    // short label for logs and $SYS.session events: closed, timeout, protocol, limit, refused, policy, kicked, shutdown, write, slow_consumer
	err    error     // the underlying error, if any
	notice *pb.Error // sent to the peer before closing, if not nil
}

func (s *session) run() {
	defer s.b.conns.Done()
	go s.writeLoop()
	cause := s.serve()
	s.end(cause)
}

// serve runs the handshake and then every request until the session ends.
func (s *session) serve() endCause {
	if cause, ok := s.handshake(); !ok {
		s.b.counters.handshakeFailed.Add(1)
		return cause
	}
	env := new(pb.Envelope)
	idle := s.b.cfg.IdleTimeout
	for {
		// Work that may wait for the socket is done once per read, not per
		// frame: with frames already buffered, ReadFrame cannot block.
		blocking := !s.rd.NextBuffered()
		if blocking {
			// Let the receivers' writers send what this batch of frames
			// queued for them.
			s.wake.flush(s.b.cfg.FlowControlWait, &s.b.counters)
			s.flushCounts()
			if err := s.conn.SetReadDeadline(time.Now().Add(idle)); err != nil {
				return endCause{reason: "closed", err: err}
			}
		}
		if c := s.kicked.Load(); c != nil {
			// kick's deadline may have been replaced above; with frames
			// buffered the reader would never see it.
			return *c
		}
		msg, err := s.rd.ReadFrame()
		if blocking {
			// Events get the time their batch of frames arrived.
			s.received = time.Now().UnixNano()
		}
		if err != nil {
			cause := s.readFailed(err, fmt.Sprintf("no message for %v", idle))
			if cause.reason == "timeout" {
				s.b.counters.idleTimeouts.Add(1)
			}
			return cause
		}
		s.bytesIn.Add(uint64(len(msg) + wire.HeaderSize))
		if v, ok := wire.ParsePublish(msg); ok {
			// The common case, without building protobuf structs.
			if cause, ok := s.fastPublish(&v); !ok {
				return cause
			}
			continue
		}
		// Whatever the frame asks, the counters include every event
		// published before it.
		s.flushCounts()
		if err := wire.DecodeEnvelope(msg, env); err != nil {
			return s.protocolError(pb.ErrorCode_ERROR_CODE_BAD_FRAME, err)
		}
		if cause, ok := s.handle(env); !ok {
			return cause
		}
	}
}

// readFailed classifies a failed frame read.
func (s *session) readFailed(err error, timeoutMsg string) endCause {
	if c := s.kicked.Load(); c != nil {
		return *c
	}
	var variant *wire.CRCVariantError
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
		return endCause{reason: "closed"}
	case errors.As(err, &ne) && ne.Timeout():
		return endCause{reason: "timeout", err: err, notice: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_TIMEOUT, Message: timeoutMsg, Fatal: true}}
	case errors.As(err, &variant):
		// Answer in the peer's variant so that it can read why.
		s.crc = variant.Peer
		return s.protocolError(pb.ErrorCode_ERROR_CODE_CRC_VARIANT, err)
	case errors.Is(err, wire.ErrFrameTooLarge):
		return s.protocolError(pb.ErrorCode_ERROR_CODE_FRAME_TOO_LARGE, err)
	case errors.Is(err, wire.ErrEmptyFrame), errors.Is(err, wire.ErrChecksum), errors.Is(err, wire.ErrTruncated):
		return s.protocolError(pb.ErrorCode_ERROR_CODE_BAD_FRAME, err)
	default:
		return endCause{reason: "closed", err: err}
	}
}

func (s *session) protocolError(code pb.ErrorCode, err error) endCause {
	s.b.counters.protocolErrors.Add(1)
	return endCause{reason: "protocol", err: err, notice: &pb.Error{Code: code, Message: err.Error(), Fatal: true}}
}

// handshake reads and answers the Hello.
func (s *session) handshake() (endCause, bool) {
	timeout := s.b.cfg.HandshakeTimeout
	if err := s.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return endCause{reason: "closed", err: err}, false
	}
	if c := s.kicked.Load(); c != nil {
		return *c, false
	}
	msg, err := s.rd.ReadFrame()
	if err != nil {
		cause := s.readFailed(err, fmt.Sprintf("handshake not completed within %v", timeout))
		if cause.reason == "timeout" {
			s.b.counters.handshakeTimeouts.Add(1)
			s.b.limits.hit(limitHandshake, "connections are not completing the handshake in time",
				"timeout", timeout, "session", s.id)
		}
		return cause, false
	}
	env := new(pb.Envelope)
	if err := wire.DecodeEnvelope(msg, env); err != nil {
		return s.protocolError(pb.ErrorCode_ERROR_CODE_BAD_FRAME, err), false
	}
	hello := env.GetHello()
	if hello == nil {
		return s.protocolError(pb.ErrorCode_ERROR_CODE_UNEXPECTED_MESSAGE,
			fmt.Errorf("broker: expected hello as the first message, got %s", kindName(env))), false
	}
	if hello.ProtocolVersion != wire.ProtocolVersion {
		return s.protocolError(pb.ErrorCode_ERROR_CODE_PROTOCOL_VERSION,
			fmt.Errorf("broker: client speaks protocol version %d, this broker speaks version %d", hello.ProtocolVersion, wire.ProtocolVersion)), false
	}
	if err := validateHello(hello); err != nil {
		return s.protocolError(pb.ErrorCode_ERROR_CODE_BAD_HELLO, err), false
	}
	if cause, ok := s.admit(hello); !ok {
		return cause, false
	}
	s.mu.Lock()
	id := s.id
	s.mu.Unlock()
	s.publisher = &pb.Publisher{ClientName: id.ClientName, InstanceId: id.InstanceID, SessionId: id.SessionID}
	s.publisherRaw, _ = proto.Marshal(s.publisher)
	s.log = s.b.log.With("session", id)
	// Before any subscription makes the queue reachable by publishers.
	s.q.log = s.log
	if s.tw = transport.NewTryWriter(s.conn); s.tw != nil {
		s.q.direct = s
	}
	s.log.Info("session established", "client_version", hello.SoftwareVersion)

	cfg := s.b.cfg
	s.reply(&pb.Envelope{Kind: &pb.Envelope_Welcome{Welcome: &pb.Welcome{
		ProtocolVersion:  wire.ProtocolVersion,
		BrokerVersion:    cfg.Version,
		SessionId:        id.SessionID,
		MaxFrameSize:     uint32(cfg.Wire.MaxFrameSize),
		MaxSubscriptions: uint32(cfg.MaxSubscriptions),
		IdleTimeoutMs:    uint32(cfg.IdleTimeout / time.Millisecond),
		PingIntervalMs:   uint32(cfg.IdleTimeout / 3 / time.Millisecond),
	}}})
	return endCause{}, true
}

// admit checks the Hello's claim against the policy with the kernel's
// credentials and establishes the session.
func (s *session) admit(hello *pb.Hello) (endCause, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.id.ClientName, s.id.InstanceID = hello.ClientName, hello.InstanceId
	if !s.id.HasCredentials {
		// Without the kernel's word, a claim cannot be checked: fail closed.
		return s.refuseClaim(fmt.Errorf("broker: the peer's credentials are unavailable, so its claim cannot be checked: %w", s.credErr))
	}
	// Holding s.mu orders this against a concurrent policy reload: either
	// the reload sees the session established, or this sees the new policy.
	pr, err := s.b.currentPolicy().Admit(hello.ClientName, peerOf(s.id))
	if err != nil {
		return s.refuseClaim(err)
	}
	s.auth.Store(newSessionAuth(pr))
	s.established = true
	s.b.limits.clear(limitHandshake, "handshakes completing again")
	s.b.sessionEvent(pb.SessionEvent_KIND_CONNECTED, s.id, "", "", 0)
	return endCause{}, true
}

// refuseClaim ends a handshake whose claim the policy refuses; s.mu held.
func (s *session) refuseClaim(err error) (endCause, bool) {
	s.b.counters.claimsRefused.Add(1)
	s.b.log.Warn("claim refused", "session", s.id, "err", err)
	s.b.sessionEvent(pb.SessionEvent_KIND_REFUSED, s.id, "refused", err.Error(), 0)
	return endCause{reason: "refused", err: err, notice: &pb.Error{
		Code: pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED, Message: err.Error(), Fatal: true,
	}}, false
}

// Limits on the claims in a Hello.
const (
	maxClientNameLen = 64
	maxInstanceIDLen = 128
)

func validateHello(h *pb.Hello) error {
	if h.ClientName == "" {
		return errors.New("broker: hello has an empty client name")
	}
	if len(h.ClientName) > maxClientNameLen {
		return fmt.Errorf("broker: client name longer than %d bytes", maxClientNameLen)
	}
	for i := 0; i < len(h.ClientName); i++ {
		if c := h.ClientName[i]; !isNameByte(c) {
			return fmt.Errorf("broker: client name %q has character %q; allowed are letters, digits, '.', '_' and '-'", h.ClientName, c)
		}
	}
	if len(h.InstanceId) > maxInstanceIDLen {
		return fmt.Errorf("broker: instance id longer than %d bytes", maxInstanceIDLen)
	}
	for i := 0; i < len(h.InstanceId); i++ {
		if c := h.InstanceId[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("broker: instance id has a non-printable or non-ASCII byte at offset %d", i)
		}
	}
	return nil
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// reply queues a control frame for the peer. A peer that lets replies pile
// up is closed: it is not reading.
func (s *session) reply(env *pb.Envelope) {
	frame, err := s.crc.AppendEnvelope(nil, env)
	if err != nil {
		s.log.Error("cannot encode reply", "err", err)
		return
	}
	if !s.q.pushControl(frame) && s.unreadReplies.CompareAndSwap(false, true) {
		s.b.counters.pendingReplies.Add(1)
		s.log.Warn("closing session: it does not read its replies", "pending", maxPendingReplies)
		s.conn.Close()
	}
}

// end tears the session down: no more routing to it, tell the peer why if
// there is something to tell, flush, close, forget.
func (s *session) end(cause endCause) {
	s.wake.flush(0, nil)
	s.flushCounts()
	removed := s.dropSubscriptions()
	if cause.reason == "slow_consumer" {
		// The peer is not reading: flushing its full queue would only hold
		// the session for the write timeout.
		s.conn.Close()
	}
	if cause.notice != nil {
		s.reply(&pb.Envelope{Kind: &pb.Envelope_Error{Error: cause.notice}})
	}
	s.q.close()
	<-s.writerDone
	s.b.removeSession(s)
	if id, ok := s.identity(); ok {
		detail := ""
		if cause.err != nil {
			detail = cause.err.Error()
		}
		s.b.sessionEvent(pb.SessionEvent_KIND_DISCONNECTED, id, cause.reason, detail, s.dropped.Load())
	}

	args := []any{"reason", cause.reason, "subscriptions_removed", removed,
		"published", s.published.Load(), "delivered", s.delivered.Load(), "dropped", s.dropped.Load()}
	if cause.err != nil {
		args = append(args, "err", cause.err)
	}
	switch cause.reason {
	case "closed", "shutdown":
		s.log.Info("session ended", args...)
	default:
		// Ended by a limit, the policy, an administrator or a fault: worth
		// an operator's attention.
		s.log.Warn("session ended", args...)
	}
}

// dropSubscriptions removes every subscription of the session from routing.
func (s *session) dropSubscriptions() int {
	s.mu.Lock()
	subs := s.subs
	s.subs = nil
	s.mu.Unlock()
	for _, sub := range subs {
		s.b.index.Remove(sub.filter, sub)
	}
	return len(subs)
}

// kick ends the session from another goroutine: the reader wakes up at
// once, the peer is told why, and the writer flushes what is queued. The
// first kick wins.
func (s *session) kick(cause endCause) {
	if s.kicked.CompareAndSwap(nil, &cause) {
		_ = s.conn.SetReadDeadline(time.Now())
	}
}

// shutdown ends the session because the broker is stopping.
func (s *session) shutdown() {
	s.kick(endCause{reason: "shutdown", notice: &pb.Error{
		Code: pb.ErrorCode_ERROR_CODE_SHUTTING_DOWN, Message: "broker is shutting down", Fatal: true}})
}

// abort closes the connection without flushing.
func (s *session) abort() { s.conn.Close() }

// Reasons a connection is refused before it becomes a session.
var (
	refuseTooMany      = &pb.Error{Code: pb.ErrorCode_ERROR_CODE_TOO_MANY_CONNECTIONS, Message: "broker: too many connections", Fatal: true}
	refuseShuttingDown = &pb.Error{Code: pb.ErrorCode_ERROR_CODE_SHUTTING_DOWN, Message: "broker: shutting down", Fatal: true}
)

// refuseWriteTimeout bounds how long a refused peer may hold the refusal.
const refuseWriteTimeout = time.Second

// refuse tells the peer why it is not admitted and closes the connection,
// without holding up the accept loop.
func (s *session) refuse(why *pb.Error) {
	go func() {
		defer s.conn.Close()
		frame, err := s.crc.AppendEnvelope(nil, &pb.Envelope{Kind: &pb.Envelope_Error{Error: why}})
		if err != nil {
			return
		}
		_ = s.conn.SetWriteDeadline(time.Now().Add(refuseWriteTimeout))
		if _, err := s.conn.Write(frame); err != nil {
			s.log.Debug("refusal not delivered", "err", err)
		}
	}()
}

// enqueue implements receiver.
func (s *session) enqueue(ev *event, sids []uint32) bool {
	switch s.q.pushEvent(ev, sids) {
	case pushed:
		return true
	case pushedAfterGap:
		if s.dropping.CompareAndSwap(true, false) {
			s.log.Info("receiver caught up", "dropped_total", s.dropped.Load())
		}
		return true
	case droppedFull:
		s.dropped.Add(1)
		s.b.counters.dropped.Add(1)
		s.droppedFull()
	}
	return false
}

// droppedFull handles a drop for a full queue: the first of an episode is
// logged and announced on $SYS.session.slow; a receiver still dropping after
// Config.SlowConsumerTimeout is disconnected.
func (s *session) droppedFull() {
	now := time.Now()
	if s.dropping.CompareAndSwap(false, true) {
		s.dropStart.Store(now.UnixNano())
		msgs, bytes := s.q.depth()
		s.log.Warn("receiver queue full: dropping events for this session",
			"queued_messages", msgs, "queued_bytes", bytes,
			"limit_messages", s.b.cfg.QueueMessages, "limit_bytes", s.b.cfg.QueueBytes)
		if id, ok := s.identity(); ok {
			s.b.sessionEvent(pb.SessionEvent_KIND_SLOW_CONSUMER, id, "slow_consumer", "queue full", s.dropped.Load())
		}
		return
	}
	limit := s.b.cfg.SlowConsumerTimeout
	if limit > 0 && now.Sub(time.Unix(0, s.dropStart.Load())) > limit && s.kicked.Load() == nil {
		s.b.counters.slowDisconnects.Add(1)
		s.kick(endCause{reason: "slow_consumer", notice: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_SLOW_CONSUMER, Fatal: true,
			Message: fmt.Sprintf("broker: the session's queue has been full for more than %v; %d events dropped", limit, s.dropped.Load())}})
	}
}

// offer implements receiver.
func (s *session) offer(ev *event, sids []uint32, anyRoom bool) bool {
	return s.q.offerEvent(ev, sids, anyRoom).queued()
}

// needsFrame implements receiver.
func (s *session) needsFrame() bool { return true }

func kindName(env *pb.Envelope) string {
	if k := env.ProtoReflect().WhichOneof(env.ProtoReflect().Descriptor().Oneofs().ByName("kind")); k != nil {
		return string(k.Name())
	}
	return "nothing"
}

// flushCounts adds what the reader counted since its last read to the
// shared statistics.
func (s *session) flushCounts() {
	s.tally.flush(s.b)
	s.routes.Flush()
}
