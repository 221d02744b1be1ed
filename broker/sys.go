package broker

import (
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/topic"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// sysPublisherName is the publisher of the broker's own $SYS events.
const sysPublisherName = "$broker"

var sysSessionTopics = map[pb.SessionEvent_Kind]string{
	pb.SessionEvent_KIND_CONNECTED:     topic.SysSessionConnected,
	pb.SessionEvent_KIND_DISCONNECTED:  topic.SysSessionDisconnected,
	pb.SessionEvent_KIND_REFUSED:       topic.SysSessionRefused,
	pb.SessionEvent_KIND_SLOW_CONSUMER: topic.SysSessionSlow,
}

// publishSys publishes one of the broker's own events. Nothing is encoded
// when nobody subscribes.
func (b *Broker) publishSys(name string, m proto.Message) {
	if b.index.Match(name).empty() {
		return
	}
	payload, err := proto.Marshal(m)
	if err != nil {
		b.log.Error("cannot encode a broker event", "topic", name, "err", err)
		return
	}
	if _, err := b.publish(outgoing{topic: name, payload: payload, from: b.sysPublisher}); err != nil {
		b.log.Error("cannot publish a broker event", "topic", name, "err", err)
	}
}

// sessionEvent publishes a $SYS.session event about id.
func (b *Broker) sessionEvent(kind pb.SessionEvent_Kind, id Identity, reason, detail string, dropped uint64) {
	b.publishSys(sysSessionTopics[kind], &pb.SessionEvent{
		Kind:       kind,
		SessionId:  id.SessionID,
		ClientName: id.ClientName,
		InstanceId: id.InstanceID,
		Uid:        id.Credentials.UID,
		Gid:        id.Credentials.GID,
		Pid:        id.Credentials.PID,
		Executable: id.Credentials.Executable,
		Reason:     reason,
		Detail:     detail,
		Dropped:    dropped,
		AtUnixNano: time.Now().UnixNano(),
	})
}

// publishStatsEvery publishes $SYS.broker.stats until the broker closes.
func (b *Broker) publishStatsEvery(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-b.closedCh:
			return
		case <-t.C:
			b.publishSys(topic.SysBrokerStats, b.brokerStats())
		}
	}
}

// brokerStats is Stats in its protocol form.
func (b *Broker) brokerStats() *pb.BrokerStats {
	st := b.Stats()
	return &pb.BrokerStats{
		Sessions:      uint32(st.Sessions),
		Accepted:      st.Accepted,
		Published:     st.Published,
		Routed:        st.Routed,
		Dropped:       st.Dropped,
		Subscriptions: uint32(st.Subscriptions),
		Limits: map[string]uint64{
			"max_connections":       st.RefusedTooMany,
			"handshake_timeout":     st.HandshakeTimeouts,
			"idle_timeout":          st.IdleTimeouts,
			"write_timeout":         st.WriteTimeouts,
			"max_subscriptions":     st.SubscriptionLimit,
			"pending_replies":       st.PendingRepliesLimit,
			"open_requests":         st.RequestLimit,
			"bad_subscriptions":     st.BadSubscriptions,
			"refused_publishes":     st.RefusalDisconnects,
			"queue_full":            st.Dropped,
			"queue_group_full":      st.GroupFull,
			"slow_consumer":         st.SlowConsumers,
			"flow_control_waits":    st.FlowControlWaits,
			"flow_control_give_ups": st.FlowControlGiveUps,
			"claims_refused":        st.ClaimsRefused,
			"protocol_errors":       st.ProtocolErrors,
		},
		StartedUnixNano: b.started.UnixNano(),
		AtUnixNano:      time.Now().UnixNano(),
	}
}

// sessionStats describes one session's traffic.
func (s *session) sessionStats() *pb.SessionStats {
	s.mu.Lock()
	id, nsubs := s.id, len(s.subs)
	s.mu.Unlock()
	msgs, bytes := s.q.depth()
	return &pb.SessionStats{
		SessionId:         id.SessionID,
		ClientName:        id.ClientName,
		InstanceId:        id.InstanceID,
		Uid:               id.Credentials.UID,
		Pid:               id.Credentials.PID,
		Published:         s.published.Load(),
		Delivered:         s.delivered.Load(),
		Dropped:           s.dropped.Load(),
		BytesIn:           s.bytesIn.Load(),
		BytesOut:          s.bytesOut.Load(),
		QueuedMessages:    uint32(msgs),
		QueuedBytes:       uint32(bytes),
		Subscriptions:     uint32(nsubs),
		ConnectedUnixNano: s.connected.UnixNano(),
	}
}

func (s *session) handleStats(m *pb.StatsRequest) {
	if !s.auth.Load().principal.Admin {
		s.refuseRequest(m.RequestId, "reading the broker's statistics")
		return
	}
	reply := &pb.StatsReply{RequestId: m.RequestId, Broker: s.b.brokerStats(), Topics: s.b.topics.snapshot()}
	for _, other := range s.b.established() {
		reply.Sessions = append(reply.Sessions, other.sessionStats())
	}
	env := &pb.Envelope{Kind: &pb.Envelope_StatsReply{StatsReply: reply}}
	// Trim the topic list rather than exceed the frame limit.
	for len(reply.Topics) > 1 && proto.Size(env) > s.b.cfg.Wire.MaxFrameSize {
		reply.Topics = reply.Topics[:len(reply.Topics)/2]
	}
	s.reply(env)
}

// established returns the sessions past their handshake, by id.
func (b *Broker) established() []*session {
	b.mu.Lock()
	out := make([]*session, 0, len(b.sessions))
	for _, s := range b.sessions {
		out = append(out, s)
	}
	b.mu.Unlock()
	kept := out[:0]
	for _, s := range out {
		if _, ok := s.identity(); ok {
			kept = append(kept, s)
		}
	}
	sortSessions(kept)
	return kept
}
