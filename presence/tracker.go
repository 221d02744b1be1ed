package presence

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// Collector states, short names for the protocol's.
const (
	stateUnknown      = pb.CollectorStatus_STATE_UNSPECIFIED
	stateAlive        = pb.CollectorStatus_STATE_ALIVE
	stateLost         = pb.CollectorStatus_STATE_LOST
	stateDisconnected = pb.CollectorStatus_STATE_DISCONNECTED
)

// Reasons for the transitions the tracker reports.
const (
	ReasonFirstHeartbeat = "first heartbeat"
	ReasonResumed        = "heartbeat resumed"
	reasonEndedPrefix    = "connection ended"
)

// Tracker is the presence state machine. It does no I/O and never reads the
// clock: each method takes the current time. It is not safe for concurrent
// use; Service drives one from a single goroutine.
//
// Every method that changes a collector's state returns the transitions,
// one pb.CollectorStatus each, sorted by collector then instance. The
// returned messages are the caller's.
type Tracker struct {
	cfg        Config
	collectors map[collectorKey]*entry
	stats      TrackerStats
}

// TrackerStats counts what the tracker refused.
type TrackerStats struct {
	// Collectors is the number of entries in the table.
	Collectors int
	// Ignored counts heartbeats of new collectors that found the table full
	// of live ones.
	Ignored uint64
	// Invalid counts heartbeats without a collector name, or with a name or
	// instance id too long or not UTF-8.
	Invalid uint64
}

type collectorKey struct{ collector, instance string }

// entry is one collector.
type entry struct {
	key      collectorKey
	state    pb.CollectorStatus_State
	previous pb.CollectorStatus_State
	reason   string
	status   string
	session  uint64
	beats    uint64
	interval time.Duration // the beat interval it announced last
	lastSeen time.Time
	changed  time.Time
}

// NewTracker returns an empty tracker. Zero or negative settings in cfg
// mean the defaults.
func NewTracker(cfg Config) *Tracker {
	cfg = cfg.withDefaults()
	return &Tracker{cfg: cfg, collectors: make(map[collectorKey]*entry)}
}

// Heartbeat records a beat received at now. It returns a transition when
// the collector is new (ALIVE, "first heartbeat"), comes back from LOST or
// DISCONNECTED (ALIVE, "heartbeat resumed"), or stays ALIVE with another
// status word. Invalid heartbeats and those the full table cannot take are
// counted in Stats and change nothing.
func (t *Tracker) Heartbeat(hb *pb.Heartbeat, now time.Time) []*pb.CollectorStatus {
	if !validHeartbeat(hb) {
		t.stats.Invalid++
		return nil
	}
	k := collectorKey{hb.Collector, hb.InstanceId}
	e := t.collectors[k]
	if e == nil {
		if len(t.collectors) >= t.cfg.MaxCollectors && !t.evictDisconnected() {
			t.stats.Ignored++
			return nil
		}
		e = &entry{key: k}
		t.collectors[k] = e
	}
	oldStatus := e.status
	e.status = clipStatus(hb.Status)
	e.session = hb.SessionId
	e.beats++
	e.lastSeen = now
	e.interval = t.cfg.DefaultInterval
	if hb.IntervalMs > 0 {
		e.interval = time.Duration(hb.IntervalMs) * time.Millisecond
	}
	switch e.state {
	case stateUnknown:
		return one(e.enter(stateAlive, ReasonFirstHeartbeat, now))
	case stateLost, stateDisconnected:
		return one(e.enter(stateAlive, ReasonResumed, now))
	}
	if e.status != oldStatus {
		e.previous, e.reason = e.state, fmt.Sprintf("status %q -> %q", oldStatus, e.status)
		return one(e.snapshot())
	}
	return nil
}

// SessionEnded records that a broker session ended at now, for reason (the
// broker's word: closed, timeout, kicked, ...). Every ALIVE or LOST
// collector whose last beat came from that session turns DISCONNECTED.
func (t *Tracker) SessionEnded(sessionID uint64, reason string, now time.Time) []*pb.CollectorStatus {
	if sessionID == 0 {
		return nil
	}
	why := reasonEndedPrefix
	if reason != "" {
		why += ": " + reason
	}
	var out []*pb.CollectorStatus
	for _, e := range t.collectors {
		if e.session == sessionID && (e.state == stateAlive || e.state == stateLost) {
			out = append(out, e.enter(stateDisconnected, why, now))
		}
	}
	return sortStatuses(out)
}

// Tick turns LOST every ALIVE collector silent for more than MissedBeats
// times its beat interval at now.
func (t *Tracker) Tick(now time.Time) []*pb.CollectorStatus {
	var out []*pb.CollectorStatus
	for _, e := range t.collectors {
		if e.state != stateAlive {
			continue
		}
		allowed := time.Duration(t.cfg.MissedBeats) * e.interval
		if now.Sub(e.lastSeen) > allowed {
			why := fmt.Sprintf("missed %d beats (%v)", t.cfg.MissedBeats, allowed)
			out = append(out, e.enter(stateLost, why, now))
		}
	}
	return sortStatuses(out)
}

// Table returns every collector's current status, sorted by collector then
// instance.
func (t *Tracker) Table() []*pb.CollectorStatus {
	out := make([]*pb.CollectorStatus, 0, len(t.collectors))
	for _, e := range t.collectors {
		out = append(out, e.snapshot())
	}
	return sortStatuses(out)
}

// Stats returns the tracker's counters.
func (t *Tracker) Stats() TrackerStats {
	s := t.stats
	s.Collectors = len(t.collectors)
	return s
}

// evictDisconnected removes the collector disconnected longest ago to make
// room, and reports whether there was one. Live and LOST collectors are
// never evicted: a lost collector is what an operator must see.
func (t *Tracker) evictDisconnected() bool {
	var oldest *entry
	for _, e := range t.collectors {
		if e.state != stateDisconnected {
			continue
		}
		if oldest == nil || e.changed.Before(oldest.changed) ||
			e.changed.Equal(oldest.changed) && compareKeys(e.key, oldest.key) < 0 {
			oldest = e
		}
	}
	if oldest == nil {
		return false
	}
	delete(t.collectors, oldest.key)
	return true
}

// enter moves e to state and returns the transition.
func (e *entry) enter(state pb.CollectorStatus_State, reason string, now time.Time) *pb.CollectorStatus {
	e.previous, e.state, e.reason, e.changed = e.state, state, reason, now
	return e.snapshot()
}

func (e *entry) snapshot() *pb.CollectorStatus {
	return &pb.CollectorStatus{
		Collector:        e.key.collector,
		InstanceId:       e.key.instance,
		State:            e.state,
		Previous:         e.previous,
		Reason:           e.reason,
		Status:           e.status,
		LastSeenUnixNano: e.lastSeen.UnixNano(),
		SessionId:        e.session,
		Beats:            e.beats,
		ChangedUnixNano:  e.changed.UnixNano(),
	}
}

func validHeartbeat(hb *pb.Heartbeat) bool {
	return hb != nil && hb.Collector != "" &&
		len(hb.Collector) <= MaxCollectorLen && len(hb.InstanceId) <= MaxInstanceLen &&
		utf8.ValidString(hb.Collector) && utf8.ValidString(hb.InstanceId)
}

// clipStatus bounds the status word kept per collector.
func clipStatus(s string) string {
	if len(s) > MaxStatusLen {
		s = s[:MaxStatusLen]
	}
	return strings.ToValidUTF8(s, "")
}

func one(s *pb.CollectorStatus) []*pb.CollectorStatus { return []*pb.CollectorStatus{s} }

func compareKeys(a, b collectorKey) int {
	return cmp.Or(strings.Compare(a.collector, b.collector), strings.Compare(a.instance, b.instance))
}

func sortStatuses(s []*pb.CollectorStatus) []*pb.CollectorStatus {
	slices.SortFunc(s, func(a, b *pb.CollectorStatus) int {
		return compareKeys(collectorKey{a.Collector, a.InstanceId}, collectorKey{b.Collector, b.InstanceId})
	})
	return s
}
