package presence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/topic"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// Service drives a Tracker on a Bus: it feeds it heartbeats and session
// ends, ticks it, publishes its transitions on control.health.status and
// answers presence requests. The tracker runs on Run's goroutine only; the
// bus handlers decode events and hand them over through a bounded queue.
type Service struct {
	bus     Bus
	cfg     Config
	log     *slog.Logger
	tracker *Tracker // owned by Run's goroutine
	in      chan input
	started atomic.Bool

	beats, undecodable, refused, dropped atomic.Uint64
	published, publishErrors, requests   atomic.Uint64
	warned                               [numWarnings]atomic.Bool

	mu           sync.Mutex // guards trackerStats
	trackerStats TrackerStats
}

// ServiceStats counts what a Service did and refused.
type ServiceStats struct {
	// Beats counts heartbeats handed to the tracker.
	Beats uint64
	// Undecodable counts heartbeats and session events that were not the
	// protobuf messages they should be.
	Undecodable uint64
	// Refused counts heartbeats that named another collector or instance
	// than the session that published them.
	Refused uint64
	// Dropped counts events that found the service's queue full.
	Dropped uint64
	// Published counts status events published; PublishErrors those the
	// bus refused.
	Published, PublishErrors uint64
	// Requests counts presence requests answered.
	Requests uint64
	Tracker  TrackerStats
}

// input is one event for the service's goroutine: exactly one field is set.
type input struct {
	beat    *pb.Heartbeat
	ended   *pb.SessionEvent
	respond func([]byte) error
}

// Problems logged only the first time; later ones are counted.
const (
	warnUndecodable = iota
	warnRefused
	warnFull
	warnIgnored
	numWarnings
)

// Run runs a presence service on bus until ctx ends, then returns nil. It
// returns an error at once when cfg is invalid or it cannot subscribe.
func Run(ctx context.Context, bus Bus, cfg Config) error {
	s, err := NewService(bus, cfg)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

// NewService returns a service for bus; Run starts it.
func NewService(bus Bus, cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Service{
		bus:     bus,
		cfg:     cfg,
		log:     cfg.Logger.With("component", "presence"),
		tracker: NewTracker(cfg),
		in:      make(chan input, cfg.QueueSize),
	}, nil
}

// Run subscribes to control.health.heartbeat, $SYS.session.disconnected and
// control.health.presence, and serves them until ctx ends; then it
// unsubscribes and returns nil. A service runs once.
func (s *Service) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("presence: the service is already running")
	}
	var cancels []func()
	defer func() {
		for _, cancel := range cancels {
			cancel()
		}
	}()
	for _, sub := range []struct {
		filter string
		h      func(*Event)
	}{
		{topic.ControlHealthHeartbeat, s.onHeartbeat},
		{topic.SysSessionDisconnected, s.onSessionEnded},
		{topic.ControlHealthPresence, s.onPresence},
	} {
		cancel, err := s.bus.Subscribe(sub.filter, sub.h)
		if err != nil {
			return fmt.Errorf("presence: subscribing to %s: %w", sub.filter, err)
		}
		cancels = append(cancels, cancel)
	}
	s.log.Debug("presence tracker running", "missed_beats", s.cfg.MissedBeats,
		"default_interval", s.cfg.DefaultInterval, "tick", s.cfg.TickInterval)

	tick := time.NewTicker(s.cfg.TickInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			s.announce(s.tracker.Tick(time.Now()))
		case in := <-s.in:
			s.handle(in, time.Now())
		}
	}
}

// Stats returns the service's counters. Safe to call at any time.
func (s *Service) Stats() ServiceStats {
	s.mu.Lock()
	ts := s.trackerStats
	s.mu.Unlock()
	return ServiceStats{
		Beats:         s.beats.Load(),
		Undecodable:   s.undecodable.Load(),
		Refused:       s.refused.Load(),
		Dropped:       s.dropped.Load(),
		Published:     s.published.Load(),
		PublishErrors: s.publishErrors.Load(),
		Requests:      s.requests.Load(),
		Tracker:       ts,
	}
}

// handle runs on Run's goroutine.
func (s *Service) handle(in input, now time.Time) {
	switch {
	case in.beat != nil:
		s.beats.Add(1)
		s.announce(s.tracker.Heartbeat(in.beat, now))
		s.syncTrackerStats()
	case in.ended != nil:
		s.announce(s.tracker.SessionEnded(in.ended.SessionId, in.ended.Reason, now))
	case in.respond != nil:
		payload, err := proto.Marshal(&pb.PresenceTable{Collectors: s.tracker.Table()})
		if err != nil {
			s.log.Error("cannot encode the presence table", "err", err)
			return
		}
		if err := in.respond(payload); err != nil {
			s.log.Debug("presence request not answered", "err", err)
			return
		}
		s.requests.Add(1)
	}
}

func (s *Service) syncTrackerStats() {
	ts := s.tracker.Stats()
	s.mu.Lock()
	prev := s.trackerStats
	s.trackerStats = ts
	s.mu.Unlock()
	if ts.Ignored > prev.Ignored {
		s.warnOnce(warnIgnored, "presence table full: heartbeats of new collectors are ignored; further ones are counted, not logged",
			"max_collectors", s.cfg.MaxCollectors)
	}
}

// announce publishes and logs transitions.
func (s *Service) announce(changes []*pb.CollectorStatus) {
	for _, c := range changes {
		s.logTransition(c)
		payload, err := proto.Marshal(c)
		if err == nil {
			err = s.bus.Publish(topic.ControlHealthStatus, payload)
		}
		if err != nil {
			s.publishErrors.Add(1)
			s.log.Error("cannot publish a collector status", "collector", c.Collector, "instance", c.InstanceId, "err", err)
			continue
		}
		s.published.Add(1)
	}
}

func (s *Service) logTransition(c *pb.CollectorStatus) {
	level := slog.LevelInfo
	switch {
	case c.State == stateLost:
		level = slog.LevelWarn
	case c.State == stateDisconnected && c.Reason != reasonEndedPrefix+": closed":
		level = slog.LevelWarn
	}
	msg := "collector " + stateWord(c.State)
	if c.State == c.Previous {
		msg = "collector status changed"
	}
	s.log.Log(context.Background(), level, msg,
		"collector", c.Collector, "instance", c.InstanceId, "reason", c.Reason,
		"status", c.Status, "session", c.SessionId)
}

// stateWord is a state's name for people: alive, lost, disconnected.
func stateWord(s pb.CollectorStatus_State) string {
	switch s {
	case stateAlive:
		return "alive"
	case stateLost:
		return "lost"
	case stateDisconnected:
		return "disconnected"
	}
	return "unknown"
}

// The bus handlers below may run on any goroutine.

func (s *Service) onHeartbeat(ev *Event) {
	hb := &pb.Heartbeat{}
	if err := proto.Unmarshal(ev.Payload, hb); err != nil {
		s.undecodable.Add(1)
		s.warnOnce(warnUndecodable, "ignoring an undecodable event; further ones are counted, not logged",
			"topic", ev.Topic, "publisher", ev.Publisher.Name, "session", ev.Publisher.SessionID, "err", err)
		return
	}
	if err := attribute(hb, ev.Publisher); err != nil {
		s.refused.Add(1)
		s.warnOnce(warnRefused, "refusing a heartbeat; further ones are counted, not logged",
			"publisher", ev.Publisher.Name, "session", ev.Publisher.SessionID, "err", err)
		return
	}
	s.offer(input{beat: hb})
}

func (s *Service) onSessionEnded(ev *Event) {
	se := &pb.SessionEvent{}
	if err := proto.Unmarshal(ev.Payload, se); err != nil {
		s.undecodable.Add(1)
		s.warnOnce(warnUndecodable, "ignoring an undecodable event; further ones are counted, not logged",
			"topic", ev.Topic, "publisher", ev.Publisher.Name, "err", err)
		return
	}
	if se.Kind != pb.SessionEvent_KIND_DISCONNECTED {
		return
	}
	s.offer(input{ended: se})
}

func (s *Service) onPresence(ev *Event) {
	if ev.Respond == nil {
		return // a plain publish: nobody waits for an answer
	}
	s.offer(input{respond: ev.Respond})
}

func (s *Service) offer(in input) {
	select {
	case s.in <- in:
	default:
		s.dropped.Add(1)
		s.warnOnce(warnFull, "presence queue full: dropping events; further drops are counted, not logged",
			"queue", s.cfg.QueueSize)
	}
}

func (s *Service) warnOnce(kind int, msg string, args ...any) {
	if s.warned[kind].CompareAndSwap(false, true) {
		s.log.Warn(msg, args...)
	}
}

// errRefused is why attribute refuses a heartbeat.
var errRefused = errors.New("presence: a heartbeat must name the session that publishes it")

// attribute ties a heartbeat to the session that published it. The broker
// names the publisher, so that name is the truth: an empty collector or
// instance is filled in from it, a different one is refused, and the
// session id is always the publisher's. A bus that names no publisher
// leaves the heartbeat as it is.
func attribute(hb *pb.Heartbeat, p Publisher) error {
	if p.Name != "" {
		switch hb.Collector {
		case "":
			hb.Collector = p.Name
		case p.Name:
		default:
			return fmt.Errorf("%w: collector %q published by %q", errRefused, hb.Collector, p.Name)
		}
	}
	if p.Instance != "" {
		switch hb.InstanceId {
		case "":
			hb.InstanceId = p.Instance
		case p.Instance:
		default:
			return fmt.Errorf("%w: instance %q published by instance %q", errRefused, hb.InstanceId, p.Instance)
		}
	}
	if p.SessionID != 0 {
		hb.SessionId = p.SessionID
	}
	return nil
}
