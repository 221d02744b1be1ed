package broker

import (
	"fmt"
	"time"

	"github.com/daemoneye/eventbus/acl"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// sessionAuth is a session's rights under one policy.
type sessionAuth struct {
	principal *acl.Principal
	publish   *acl.PublishCache
}

func newSessionAuth(p *acl.Principal) *sessionAuth {
	return &sessionAuth{principal: p, publish: acl.NewPublishCache(p, 0)}
}

// peerOf is what the policy checks a claim against. On Windows the SID is
// set and the policy ignores UID and GID, which are zero there.
func peerOf(id Identity) acl.Peer {
	c := id.Credentials
	return acl.Peer{UID: c.UID, GID: c.GID, SID: c.SID, Executable: c.Executable}
}

// currentPolicy returns the policy in force.
func (b *Broker) currentPolicy() acl.Admitter {
	return *b.policy.Load()
}

// mayReceive implements receiver: the session's principal may read name.
// It is asked once per topic when a route is compiled, so a wildcard
// subscription that overlaps a denied area never delivers a denied topic.
func (s *session) mayReceive(name string) bool {
	a := s.auth.Load()
	return a != nil && a.principal.CanReceive(name)
}

// noteRefusal counts a refused publish and reports whether the session has
// now been refused too often within the window and must go.
func (s *session) noteRefusal() bool {
	now := time.Now()
	if now.Sub(s.refusalWindow) > s.b.cfg.RefusedPublishWindow {
		s.refusalWindow, s.refusals = now, 0
	}
	s.refusals++
	if s.refusals == 1 {
		s.log.Warn("publish refused; further refusals in this window are logged at debug level",
			"window", s.b.cfg.RefusedPublishWindow, "limit", s.b.cfg.MaxRefusedPublishes)
	}
	return s.refusals > s.b.cfg.MaxRefusedPublishes
}

// refusalLimitCause ends a session that keeps publishing where it may not.
func (s *session) refusalLimitCause() endCause {
	s.b.counters.refusalDisconnects.Add(1)
	msg := fmt.Sprintf("broker: more than %d refused publishes within %v", s.b.cfg.MaxRefusedPublishes, s.b.cfg.RefusedPublishWindow)
	return endCause{reason: "limit", notice: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED, Message: msg, Fatal: true}}
}

// ReloadReport says what a policy change did to the connected sessions.
type ReloadReport struct {
	// Sessions is the number of established sessions checked.
	Sessions int
	// Disconnected sessions' claims no longer fit the policy.
	Disconnected int
	// Revoked subscriptions are no longer allowed; their sessions were told.
	Revoked int
}

// SetPolicy puts p in force for new sessions and re-checks every connected
// one: a session whose claim no longer fits is disconnected, a subscription
// p refuses is removed and its client told, and every cached route is
// recompiled under p.
func (b *Broker) SetPolicy(p acl.Admitter) ReloadReport {
	b.policy.Store(&p)
	b.mu.Lock()
	sessions := make([]*session, 0, len(b.sessions))
	for _, s := range b.sessions {
		sessions = append(sessions, s)
	}
	b.mu.Unlock()
	var r ReloadReport
	for _, s := range sessions {
		s.reauthorize(p, &r)
	}
	b.index.Invalidate()
	b.log.Info("policy in force", "sessions", r.Sessions, "disconnected", r.Disconnected, "subscriptions_revoked", r.Revoked)
	return r
}

// reauthorize re-checks an established session under p.
func (s *session) reauthorize(p acl.Admitter, r *ReloadReport) {
	s.mu.Lock()
	if !s.established {
		s.mu.Unlock()
		return // its handshake will see p
	}
	r.Sessions++
	pr, err := p.Admit(s.id.ClientName, peerOf(s.id))
	if err != nil {
		s.mu.Unlock()
		r.Disconnected++
		s.log.Warn("policy reload: claim no longer allowed; disconnecting", "err", err)
		s.kick(endCause{reason: "policy", err: err, notice: &pb.Error{
			Code: pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED, Message: "policy reload: " + err.Error(), Fatal: true}})
		return
	}
	s.auth.Store(newSessionAuth(pr))
	var revoked []*pb.Error
	for id, sub := range s.subs {
		if d, reason := pr.CheckSubscribe(sub.filter); d == acl.Refused {
			delete(s.subs, id)
			s.b.index.Remove(sub.filter, sub)
			revoked = append(revoked, &pb.Error{
				Code: pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED, Message: "policy reload: " + reason,
				Topic: sub.filter.String(), SubscriptionId: id,
			})
		}
	}
	s.mu.Unlock()
	for _, e := range revoked {
		s.log.Info("policy reload: subscription revoked", "filter", e.Topic, "subscription", e.SubscriptionId)
		s.reply(&pb.Envelope{Kind: &pb.Envelope_Error{Error: e}})
	}
	r.Revoked += len(revoked)
}

// Disconnect ends session id, telling its client reason. It reports
// whether such a session was connected.
func (b *Broker) Disconnect(id uint64, reason string) bool {
	b.mu.Lock()
	s := b.sessions[id]
	b.mu.Unlock()
	if s == nil {
		return false
	}
	s.kick(endCause{reason: "kicked", err: fmt.Errorf("disconnected: %s", reason), notice: &pb.Error{
		Code: pb.ErrorCode_ERROR_CODE_DISCONNECTED, Message: "disconnected by an administrator: " + reason, Fatal: true}})
	return true
}
