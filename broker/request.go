package broker

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// Request limits.
const (
	// DefaultRequestTimeout applies when a request names none.
	DefaultRequestTimeout = 5 * time.Second
	// MaxRequestTimeout caps what a request may ask for.
	MaxRequestTimeout = 5 * time.Minute
	// MaxPendingRequests bounds the open requests of one session.
	MaxPendingRequests = 1024
)

// requester is whoever waits for the answer to a request.
type requester interface {
	// answer delivers the first reply, or the error that ends the request.
	answer(requestID uint64, resp *pb.Response, fail *pb.Error)
}

// pendingRequest is an open request, known by its reply token.
type pendingRequest struct {
	to    requester
	id    uint64
	owner uint64 // the requester's session id, for its bound
	timer *time.Timer
}

// requests holds the open requests. Reply tokens are random, so a responder
// can answer only requests it was delivered.
type requests struct {
	mu        sync.Mutex
	byToken   map[string]*pendingRequest
	bySession map[uint64]int
}

func newRequests() *requests {
	return &requests{byToken: make(map[string]*pendingRequest), bySession: make(map[uint64]int)}
}

// open registers a request and returns its token, or "" when the session
// has too many open requests. The request fails with TIMEOUT after timeout.
func (rs *requests) open(to requester, id, owner uint64, timeout time.Duration) string {
	var raw [16]byte
	_, _ = rand.Read(raw[:]) // never fails on supported platforms
	token := hex.EncodeToString(raw[:])
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.bySession[owner] >= MaxPendingRequests {
		return ""
	}
	rs.bySession[owner]++
	p := &pendingRequest{to: to, id: id, owner: owner}
	rs.byToken[token] = p
	p.timer = time.AfterFunc(timeout, func() {
		if p := rs.take(token); p != nil {
			p.to.answer(p.id, nil, &pb.Error{Code: pb.ErrorCode_ERROR_CODE_TIMEOUT, RequestId: p.id,
				Message: fmt.Sprintf("broker: no reply within %v", timeout)})
		}
	})
	return token
}

// take removes and returns the request with token, or nil: unknown,
// answered already, or timed out.
func (rs *requests) take(token string) *pendingRequest {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	p := rs.byToken[token]
	if p == nil {
		return nil
	}
	delete(rs.byToken, token)
	if rs.bySession[p.owner]--; rs.bySession[p.owner] <= 0 {
		delete(rs.bySession, p.owner)
	}
	p.timer.Stop()
	return p
}

// request routes a request like a publish and opens it for replies. It
// returns the error to send the requester, or nil when the request is on
// its way.
func (b *Broker) request(o outgoing, to requester, id, owner uint64, timeout time.Duration) *pb.Error {
	// One lookup serves the check and the routing, so a request counts
	// one route-cache hit or miss, as a publish does.
	rt := b.index.Match(o.topic)
	if rt.empty() {
		return &pb.Error{Code: pb.ErrorCode_ERROR_CODE_NO_RESPONDERS, RequestId: id, Topic: o.topic,
			Message: fmt.Sprintf("broker: no responders on %s", o.topic)}
	}
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	timeout = min(timeout, MaxRequestTimeout)
	o.replyTo = b.requests.open(to, id, owner, timeout)
	if o.replyTo == "" {
		b.counters.requestLimit.Add(1)
		return &pb.Error{Code: pb.ErrorCode_ERROR_CODE_LIMIT_EXCEEDED, RequestId: id, Topic: o.topic,
			Message: fmt.Sprintf("broker: at most %d open requests per session", MaxPendingRequests)}
	}
	n, err := b.publishRoute(rt, o)
	if err == nil && n > 0 {
		return nil
	}
	b.requests.take(o.replyTo)
	if err != nil {
		code := pb.ErrorCode_ERROR_CODE_INTERNAL
		if isDeliveryTooLarge(err) {
			code = pb.ErrorCode_ERROR_CODE_FRAME_TOO_LARGE
		}
		return &pb.Error{Code: code, RequestId: id, Topic: o.topic, Message: err.Error()}
	}
	return &pb.Error{Code: pb.ErrorCode_ERROR_CODE_NO_RESPONDERS, RequestId: id, Topic: o.topic,
		Message: fmt.Sprintf("broker: no responder on %s could take the request: their queues are full", o.topic)}
}

// reply hands the first answer to a request to its requester. Late,
// duplicate and unknown replies are dropped: the requester has its answer
// or its error already.
func (b *Broker) reply(token string, payload []byte, corr *pb.Correlation, from *pb.Publisher) bool {
	p := b.requests.take(token)
	if p == nil {
		return false
	}
	p.to.answer(p.id, &pb.Response{RequestId: p.id, Payload: payload, Responder: from, Correlation: corr}, nil)
	return true
}

// answer implements requester for a socket session.
func (s *session) answer(requestID uint64, resp *pb.Response, fail *pb.Error) {
	if fail != nil {
		s.reply(&pb.Envelope{Kind: &pb.Envelope_Error{Error: fail}})
		return
	}
	env := &pb.Envelope{Kind: &pb.Envelope_Response{Response: resp}}
	if n := proto.Size(env); n > s.b.cfg.Wire.MaxFrameSize {
		s.reply(&pb.Envelope{Kind: &pb.Envelope_Error{Error: &pb.Error{
			Code: pb.ErrorCode_ERROR_CODE_FRAME_TOO_LARGE, RequestId: requestID,
			Message: fmt.Sprintf("broker: the reply is %d bytes, the limit is %d", n, s.b.cfg.Wire.MaxFrameSize),
		}}})
		return
	}
	s.reply(env)
}
