package broker

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/daemoneye/eventbus/topic"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// handle serves one request of an established session. It reports false,
// with the cause, when the session must end.
func (s *session) handle(env *pb.Envelope) (endCause, bool) {
	switch k := env.Kind.(type) {
	case *pb.Envelope_Publish:
		s.handlePublish(k.Publish)
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

func (s *session) handlePublish(p *pb.Publish) {
	if err := checkPublishTopic(p.Topic); err != nil {
		s.b.counters.badPublishes.Add(1)
		code := pb.ErrorCode_ERROR_CODE_BAD_TOPIC
		if strings.HasPrefix(p.Topic, topic.SysPrefix) {
			code = pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED
		}
		s.log.Debug("publish refused", "topic", p.Topic, "err", err)
		s.reply(&pb.Envelope{Kind: &pb.Envelope_Error{Error: &pb.Error{
			Code: code, Message: err.Error(), Topic: p.Topic, PublishId: p.PublishId,
		}}})
		return
	}
	s.published.Add(1)
	n, err := s.b.publish(p.Topic, p.Payload, p.Correlation, s.publisher)
	if err != nil {
		code := pb.ErrorCode_ERROR_CODE_INTERNAL
		if errors.Is(err, errDeliveryTooLarge) {
			code = pb.ErrorCode_ERROR_CODE_FRAME_TOO_LARGE
			s.b.counters.badPublishes.Add(1)
			s.log.Debug("publish refused", "topic", p.Topic, "err", err)
		} else {
			s.log.Error("cannot route publish", "topic", p.Topic, "err", err)
		}
		s.reply(&pb.Envelope{Kind: &pb.Envelope_Error{Error: &pb.Error{
			Code: code, Message: err.Error(), Topic: p.Topic, PublishId: p.PublishId,
		}}})
		return
	}
	if p.PublishId != 0 {
		s.reply(&pb.Envelope{Kind: &pb.Envelope_PubAck{PubAck: &pb.PubAck{PublishId: p.PublishId, Receivers: uint32(n)}}})
	}
}

// checkPublishTopic validates a topic a client publishes to. Broker-reserved
// ($-prefixed) topics are the broker's alone.
func checkPublishTopic(name string) error {
	if err := topic.ValidateName(name); err != nil {
		return err
	}
	if strings.HasPrefix(name, "$") {
		return fmt.Errorf("broker: topic %q is reserved for the broker", name)
	}
	return nil
}

func (s *session) handleSubscribe(m *pb.Subscribe) {
	ack := func(code pb.ErrorCode, reason string) {
		s.reply(&pb.Envelope{Kind: &pb.Envelope_SubAck{SubAck: &pb.SubAck{
			SubscriptionId: m.SubscriptionId, Granted: code == pb.ErrorCode_ERROR_CODE_UNSPECIFIED, Code: code, Reason: reason,
		}}})
	}
	if m.SubscriptionId == 0 {
		ack(pb.ErrorCode_ERROR_CODE_UNEXPECTED_MESSAGE, "subscription id 0 is reserved")
		return
	}
	f, err := topic.ParseFilter(m.Filter)
	if err != nil {
		ack(pb.ErrorCode_ERROR_CODE_BAD_FILTER, err.Error())
		return
	}
	sub := &subscription{id: m.SubscriptionId, filter: f, rcv: s}
	s.mu.Lock()
	_, dup := s.subs[m.SubscriptionId]
	full := len(s.subs) >= s.b.cfg.MaxSubscriptions
	if !dup && !full {
		s.subs[m.SubscriptionId] = sub
	}
	s.mu.Unlock()
	switch {
	case dup:
		ack(pb.ErrorCode_ERROR_CODE_DUPLICATE_SUBSCRIPTION, fmt.Sprintf("subscription id %d is already in use", m.SubscriptionId))
	case full:
		s.log.Warn("subscription refused: session at its subscription limit", "limit", s.b.cfg.MaxSubscriptions, "filter", m.Filter)
		ack(pb.ErrorCode_ERROR_CODE_LIMIT_EXCEEDED, fmt.Sprintf("at most %d subscriptions per session", s.b.cfg.MaxSubscriptions))
	default:
		// Insert before acknowledging: once the client sees the ack, every
		// later publish reaches the subscription.
		s.b.index.Insert(f, sub)
		ack(pb.ErrorCode_ERROR_CODE_UNSPECIFIED, "")
	}
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
	id, _ := s.identity()
	if m.AllSessions && !s.b.cfg.Privileged(id) {
		s.reply(&pb.Envelope{Kind: &pb.Envelope_Error{Error: &pb.Error{
			Code: pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED, Message: "broker: listing every session's subscriptions is a privileged request",
			RequestId: m.RequestId,
		}}})
		return
	}
	list := &pb.SubscriptionList{RequestId: m.RequestId}
	if m.AllSessions {
		list.Sessions = s.b.allSubscriptions()
	} else {
		list.Sessions = []*pb.SessionSubscriptions{s.subscriptionList()}
	}
	s.reply(&pb.Envelope{Kind: &pb.Envelope_SubscriptionList{SubscriptionList: list}})
}

// subscriptionList describes the session's subscriptions, sorted by id.
func (s *session) subscriptionList() *pb.SessionSubscriptions {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &pb.SessionSubscriptions{SessionId: s.id.SessionID, ClientName: s.id.ClientName, InstanceId: s.id.InstanceID}
	for id, sub := range s.subs {
		out.Subscriptions = append(out.Subscriptions, &pb.SubscriptionInfo{SubscriptionId: id, Filter: sub.filter.String()})
	}
	sort.Slice(out.Subscriptions, func(i, j int) bool {
		return out.Subscriptions[i].SubscriptionId < out.Subscriptions[j].SubscriptionId
	})
	return out
}

// allSubscriptions describes every established session's subscriptions,
// sorted by session id, the in-process session included.
func (b *Broker) allSubscriptions() []*pb.SessionSubscriptions {
	b.mu.Lock()
	sessions := make([]*session, 0, len(b.sessions))
	for _, s := range b.sessions {
		sessions = append(sessions, s)
	}
	local := b.local
	b.mu.Unlock()
	var out []*pb.SessionSubscriptions
	for _, s := range sessions {
		if _, ok := s.identity(); ok {
			out = append(out, s.subscriptionList())
		}
	}
	if local != nil {
		out = append(out, local.subscriptionList())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SessionId < out[j].SessionId })
	return out
}
