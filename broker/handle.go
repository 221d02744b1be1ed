package broker

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/acl"
	"github.com/daemoneye/eventbus/topic"
	"github.com/daemoneye/eventbus/wire"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// handle serves one request of an established session. It reports false,
// with the cause, when the session must end.
func (s *session) handle(env *pb.Envelope) (endCause, bool) {
	switch k := env.Kind.(type) {
	case *pb.Envelope_Publish:
		if !s.handlePublish(k.Publish) {
			return s.refusalLimitCause(), false
		}
	case *pb.Envelope_Subscribe:
		s.handleSubscribe(k.Subscribe)
	case *pb.Envelope_Unsubscribe:
		s.handleUnsubscribe(k.Unsubscribe)
	case *pb.Envelope_Ping:
		s.reply(&pb.Envelope{Kind: &pb.Envelope_Pong{Pong: &pb.Pong{Nonce: k.Ping.Nonce}}})
	case *pb.Envelope_Pong:
		// Nothing to do: any frame already reset the idle timer.
	case *pb.Envelope_ListSubscriptions:
		s.handleList(k.ListSubscriptions)
	case *pb.Envelope_DisconnectSession:
		s.handleDisconnect(k.DisconnectSession)
	case *pb.Envelope_Request:
		if !s.handleRequest(k.Request) {
			return s.refusalLimitCause(), false
		}
	case *pb.Envelope_Reply:
		if !s.b.reply(k.Reply.ReplyTo, k.Reply.Payload, k.Reply.Correlation, s.publisher) {
			s.log.Debug("reply to a request that is answered, expired or unknown")
		}
	case *pb.Envelope_StatsRequest:
		s.handleStats(k.StatsRequest)
	case *pb.Envelope_Error:
		s.log.Warn("client reported an error", "code", k.Error.Code, "message", k.Error.Message)
		if k.Error.Fatal {
			return endCause{reason: "closed", err: fmt.Errorf("client: %s", k.Error.Message)}, false
		}
	case *pb.Envelope_Hello:
		return s.protocolError(pb.ErrorCode_ERROR_CODE_UNEXPECTED_MESSAGE,
			fmt.Errorf("broker: second hello on an established session")), false
	default:
		return s.protocolError(pb.ErrorCode_ERROR_CODE_UNEXPECTED_MESSAGE,
			fmt.Errorf("broker: clients do not send %s", kindName(env))), false
	}
	return endCause{}, true
}

// fastPublish handles a Publish parsed without protobuf structs (see
// wire.ParsePublish); it behaves exactly as handlePublish. The route is
// found from the topic's bytes when it is cached, so a topic seen before
// costs no allocation to route, and the session's memo answers for the
// topic it published last without touching the shared cache.
func (s *session) fastPublish(v *wire.PublishView) (endCause, bool) {
	rt, cached := s.routes.Cached(v.Topic)
	var name string
	if cached {
		name = rt.name
	} else {
		name = string(v.Topic)
	}
	if err := s.checkPublish(name); err != nil {
		s.b.counters.badPublishes.Add(1)
		s.log.Debug("publish refused", "topic", name, "err", err)
		s.replyError(err, name, v.PublishID)
		if s.noteRefusal() {
			return s.refusalLimitCause(), false
		}
		return endCause{}, true
	}
	if len(v.Correlation) > 0 {
		// Passed on as is to every receiver: it must decode, or it would
		// break their connections instead of this one.
		var c pb.Correlation
		if err := proto.Unmarshal(v.Correlation, &c); err != nil {
			return s.protocolError(pb.ErrorCode_ERROR_CODE_BAD_FRAME, fmt.Errorf("broker: publish with a malformed correlation: %w", err)), false
		}
	}
	if !cached {
		rt = s.routes.Match(name) // name is a copy: the memo may keep it
	}
	s.published.Add(1)
	n, err := s.b.publishRoute(rt, outgoing{topic: name, payload: v.Payload, correlationRaw: v.Correlation,
		from: s.publisher, fromRaw: s.publisherRaw, wake: &s.wake, tally: &s.tally, received: s.received})
	s.publishDone(name, v.PublishID, n, err)
	return endCause{}, true
}

// publishDone answers a routed publish: a PubAck when asked for, or the
// error that kept it from being routed.
func (s *session) publishDone(name string, publishID uint64, receivers int, err error) {
	if err != nil {
		code := pb.ErrorCode_ERROR_CODE_INTERNAL
		if isDeliveryTooLarge(err) {
			code = pb.ErrorCode_ERROR_CODE_FRAME_TOO_LARGE
			s.b.counters.badPublishes.Add(1)
			s.log.Debug("publish refused", "topic", name, "err", err)
		} else {
			s.log.Error("cannot route publish", "topic", name, "err", err)
		}
		s.replyError(&codedError{code, err}, name, publishID)
		return
	}
	if publishID != 0 {
		// Counted before it is confirmed: statistics read after the PubAck
		// include the event, however many frames the reader still has
		// buffered behind it.
		s.flushCounts()
		s.reply(&pb.Envelope{Kind: &pb.Envelope_PubAck{PubAck: &pb.PubAck{PublishId: publishID, Receivers: uint32(receivers)}}})
	}
}

// handlePublish routes a publish or refuses it. It reports false when the
// session has been refused too often and must be disconnected.
func (s *session) handlePublish(p *pb.Publish) bool {
	if err := s.checkPublish(p.Topic); err != nil {
		s.b.counters.badPublishes.Add(1)
		s.log.Debug("publish refused", "topic", p.Topic, "err", err)
		s.replyError(err, p.Topic, p.PublishId)
		return !s.noteRefusal()
	}
	s.published.Add(1)
	n, err := s.b.publish(outgoing{topic: p.Topic, payload: p.Payload, correlation: p.Correlation,
		from: s.publisher, fromRaw: s.publisherRaw, wake: &s.wake, tally: &s.tally, received: s.received})
	s.publishDone(p.Topic, p.PublishId, n, err)
	return true
}

// handleRequest routes a request or refuses it, like a publish. It reports
// false when the session has been refused too often and must go.
func (s *session) handleRequest(r *pb.Request) bool {
	if err := s.checkPublish(r.Topic); err != nil {
		s.b.counters.badPublishes.Add(1)
		code := pb.ErrorCode_ERROR_CODE_INTERNAL
		var ce *codedError
		if errors.As(err, &ce) {
			code = ce.code
		}
		echo := r.Topic
		if len(echo) > s.b.cfg.MaxTopicLength {
			echo = "" // as in replyError: it could make the error larger than a frame
		}
		s.reply(&pb.Envelope{Kind: &pb.Envelope_Error{Error: &pb.Error{
			Code: code, Message: err.Error(), Topic: echo, RequestId: r.RequestId,
		}}})
		return !s.noteRefusal()
	}
	s.published.Add(1)
	o := outgoing{topic: r.Topic, payload: r.Payload, correlation: r.Correlation, from: s.publisher}
	timeout := time.Duration(r.TimeoutMs) * time.Millisecond
	if e := s.b.request(o, s, r.RequestId, s.id.SessionID, timeout); e != nil {
		if e.Code == pb.ErrorCode_ERROR_CODE_LIMIT_EXCEEDED && !s.requestLimitLogged {
			s.requestLimitLogged = true
			s.log.Warn("request refused: "+e.Message, "topic", r.Topic)
		}
		s.reply(&pb.Envelope{Kind: &pb.Envelope_Error{Error: e}})
	}
	return true
}

// clip shortens s to at most n bytes for a log line, without splitting a
// character: a refused filter may be as long as a frame.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func isDeliveryTooLarge(err error) bool { return errors.Is(err, errDeliveryTooLarge) }

// codedError is an error with the protocol code to report it under.
type codedError struct {
	code pb.ErrorCode
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// replyError sends a non-fatal error about a publish.
func (s *session) replyError(err error, topicName string, publishID uint64) {
	code := pb.ErrorCode_ERROR_CODE_INTERNAL
	var ce *codedError
	if errors.As(err, &ce) {
		code = ce.code
	}
	if len(topicName) > s.b.cfg.MaxTopicLength {
		// Echoed, an over-long topic could make the error larger than a frame.
		topicName = ""
	}
	s.reply(&pb.Envelope{Kind: &pb.Envelope_Error{Error: &pb.Error{
		Code: code, Message: err.Error(), Topic: topicName, PublishId: publishID,
	}}})
}

// checkPublish decides whether the session may publish to name: a valid
// topic within the length limit, not a broker topic, allowed by the policy.
// The topic allowed last is allowed again without the checks while the
// session's auth is the same: the limits come from the configuration, which
// does not change, and a policy reload always swaps the auth.
func (s *session) checkPublish(name string) error {
	a := s.auth.Load()
	if a != nil && name == s.allowed.name && a == s.allowed.by {
		return nil // the last topic allowed, under the same policy
	}
	if len(name) > s.b.cfg.MaxTopicLength {
		return &codedError{pb.ErrorCode_ERROR_CODE_BAD_TOPIC,
			fmt.Errorf("broker: topic longer than %d bytes", s.b.cfg.MaxTopicLength)}
	}
	if err := topic.ValidateName(name); err != nil {
		return &codedError{pb.ErrorCode_ERROR_CODE_BAD_TOPIC, err}
	}
	if strings.HasPrefix(name, "$") {
		return &codedError{pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED, fmt.Errorf("broker: topic %q is reserved for the broker", name)}
	}
	if !a.publish.Allowed(name) {
		return &codedError{pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED, fmt.Errorf("broker: %s may not publish to %s", a.principal.Name, name)}
	}
	s.allowed.name, s.allowed.by = name, a
	return nil
}

func (s *session) handleSubscribe(m *pb.Subscribe) {
	code, reason := s.subscribe(m)
	if code == pb.ErrorCode_ERROR_CODE_BAD_FILTER {
		s.b.counters.badSubscriptions.Add(1)
		if !s.badFilterLogged {
			s.badFilterLogged = true
			s.log.Warn("subscription refused: "+reason, "filter", clip(m.Filter, s.b.cfg.MaxTopicLength), "group", clip(m.QueueGroup, maxGroupLen))
		}
	}
	if code == pb.ErrorCode_ERROR_CODE_LIMIT_EXCEEDED {
		s.b.counters.subscriptionLimit.Add(1)
		if !s.subLimitLogged {
			s.subLimitLogged = true
			s.log.Warn("subscription refused: "+reason, "filter", m.Filter)
		}
	}
	s.reply(&pb.Envelope{Kind: &pb.Envelope_SubAck{SubAck: &pb.SubAck{
		SubscriptionId: m.SubscriptionId, Granted: code == pb.ErrorCode_ERROR_CODE_UNSPECIFIED, Code: code, Reason: reason,
	}}})
}

// subscribe checks and makes a subscription, returning the SubAck's code
// and reason.
func (s *session) subscribe(m *pb.Subscribe) (pb.ErrorCode, string) {
	if m.SubscriptionId == 0 {
		return pb.ErrorCode_ERROR_CODE_UNEXPECTED_MESSAGE, "subscription id 0 is reserved"
	}
	if len(m.Filter) > s.b.cfg.MaxTopicLength {
		return pb.ErrorCode_ERROR_CODE_BAD_FILTER, fmt.Sprintf("filter longer than %d bytes", s.b.cfg.MaxTopicLength)
	}
	f, err := topic.ParseFilter(m.Filter)
	if err != nil {
		return pb.ErrorCode_ERROR_CODE_BAD_FILTER, err.Error()
	}
	if err := validateGroup(m.QueueGroup); err != nil {
		return pb.ErrorCode_ERROR_CODE_BAD_FILTER, err.Error()
	}
	// s.mu is held from the policy check to the insert so that a policy
	// reload cannot slip in between and miss the new subscription.
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.subs[m.SubscriptionId]; dup {
		return pb.ErrorCode_ERROR_CODE_DUPLICATE_SUBSCRIPTION, fmt.Sprintf("subscription id %d is already in use", m.SubscriptionId)
	}
	if len(s.subs) >= s.b.cfg.MaxSubscriptions {
		return pb.ErrorCode_ERROR_CODE_LIMIT_EXCEEDED, fmt.Sprintf("at most %d subscriptions per session", s.b.cfg.MaxSubscriptions)
	}
	if d, reason := s.auth.Load().principal.CheckSubscribe(f); d == acl.Refused {
		return pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED, reason
	}
	sub := &subscription{id: m.SubscriptionId, filter: f, group: m.QueueGroup, rcv: s}
	s.subs[m.SubscriptionId] = sub
	// In the index before the ack: once the client sees it, every later
	// publish reaches the subscription.
	s.b.index.Insert(f, sub)
	return pb.ErrorCode_ERROR_CODE_UNSPECIFIED, ""
}

// maxGroupLen bounds queue group names.
const maxGroupLen = 64

// validateGroup checks a queue group name: empty (no group), or up to 64
// bytes of the client-name characters.
func validateGroup(g string) error {
	if len(g) > maxGroupLen {
		return fmt.Errorf("broker: queue group name longer than %d bytes", maxGroupLen)
	}
	for i := 0; i < len(g); i++ {
		if !isNameByte(g[i]) {
			return fmt.Errorf("broker: queue group %q has character %q; allowed are letters, digits, '.', '_' and '-'", g, g[i])
		}
	}
	return nil
}

func (s *session) handleUnsubscribe(m *pb.Unsubscribe) {
	s.mu.Lock()
	sub, ok := s.subs[m.SubscriptionId]
	delete(s.subs, m.SubscriptionId)
	s.mu.Unlock()
	if ok {
		s.b.index.Remove(sub.filter, sub)
	}
}

func (s *session) handleList(m *pb.ListSubscriptions) {
	if m.AllSessions && !s.auth.Load().principal.Admin {
		s.refuseRequest(m.RequestId, "listing every session's subscriptions")
		return
	}
	list := &pb.SubscriptionList{RequestId: m.RequestId}
	if m.AllSessions {
		list.Sessions = s.b.allSubscriptions()
	} else {
		list.Sessions = []*pb.SessionSubscriptions{s.subscriptionList()}
	}
	env := &pb.Envelope{Kind: &pb.Envelope_SubscriptionList{SubscriptionList: list}}
	// A frame above the agreed maximum would cost the client its connection.
	if n, limit := proto.Size(env), s.b.cfg.Wire.MaxFrameSize; n > limit {
		s.reply(&pb.Envelope{Kind: &pb.Envelope_Error{Error: &pb.Error{
			Code:      pb.ErrorCode_ERROR_CODE_FRAME_TOO_LARGE,
			Message:   fmt.Sprintf("broker: the subscription list takes %d bytes, more than the maximum frame size %d", n, limit),
			RequestId: m.RequestId,
		}}})
		return
	}
	s.reply(env)
}

func (s *session) handleDisconnect(m *pb.DisconnectSession) {
	if !s.auth.Load().principal.Admin {
		s.refuseRequest(m.RequestId, "disconnecting a session")
		return
	}
	if len(m.Reason) > maxReasonLen {
		// The reason is relayed in a frame to the disconnected client.
		m.Reason = m.Reason[:maxReasonLen]
	}
	s.log.Info("admin request: disconnect session", "target", m.SessionId, "reason", m.Reason)
	if !s.b.Disconnect(m.SessionId, fmt.Sprintf("%s (by %s, session %d)", m.Reason, s.publisher.ClientName, s.publisher.SessionId)) {
		s.reply(&pb.Envelope{Kind: &pb.Envelope_Error{Error: &pb.Error{
			Code: pb.ErrorCode_ERROR_CODE_UNSPECIFIED, Message: fmt.Sprintf("broker: no session %d", m.SessionId), RequestId: m.RequestId,
		}}})
		return
	}
	s.reply(&pb.Envelope{Kind: &pb.Envelope_Ack{Ack: &pb.Ack{RequestId: m.RequestId}}})
}

// maxReasonLen bounds the reason an admin gives for a disconnection.
const maxReasonLen = 256

// refuseRequest answers an admin request from a principal without admin
// rights.
func (s *session) refuseRequest(requestID uint64, what string) {
	s.reply(&pb.Envelope{Kind: &pb.Envelope_Error{Error: &pb.Error{
		Code:      pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED,
		Message:   fmt.Sprintf("broker: %s is an admin request; %s is not an admin", what, s.publisher.ClientName),
		RequestId: requestID,
	}}})
}

// subscriptionList describes the session's subscriptions, sorted by id.
func (s *session) subscriptionList() *pb.SessionSubscriptions {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &pb.SessionSubscriptions{SessionId: s.id.SessionID, ClientName: s.id.ClientName, InstanceId: s.id.InstanceID}
	for id, sub := range s.subs {
		out.Subscriptions = append(out.Subscriptions, &pb.SubscriptionInfo{SubscriptionId: id, Filter: sub.filter.String(), QueueGroup: sub.group})
	}
	sort.Slice(out.Subscriptions, func(i, j int) bool {
		return out.Subscriptions[i].SubscriptionId < out.Subscriptions[j].SubscriptionId
	})
	return out
}

// allSubscriptions describes every established session's subscriptions,
// sorted by session id, the in-process session included.
func (b *Broker) allSubscriptions() []*pb.SessionSubscriptions {
	var out []*pb.SessionSubscriptions
	for _, s := range b.established() {
		out = append(out, s.subscriptionList())
	}
	b.mu.Lock()
	local := b.local
	b.mu.Unlock()
	if local != nil {
		out = append(out, local.subscriptionList())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SessionId < out[j].SessionId })
	return out
}

func sortSessions(ss []*session) {
	sort.Slice(ss, func(i, j int) bool { return ss[i].id.SessionID < ss[j].id.SessionID })
}
