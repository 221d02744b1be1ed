package presence

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/topic"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// waitTimeout bounds every wait: far above what any step needs, it only
// turns a hang into a failure.
const waitTimeout = 10 * time.Second

var quiet = slog.New(slog.DiscardHandler)

// fakeBus is a Bus whose filters are exact topics.
type fakeBus struct {
	mu        sync.Mutex
	handlers  map[string]func(*Event)
	published []*pb.CollectorStatus
	failOn    string // Subscribe fails for this filter
	cancelled []string
}

func newFakeBus() *fakeBus { return &fakeBus{handlers: map[string]func(*Event){}} }

func (f *fakeBus) Subscribe(filter string, h func(*Event)) (func(), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if filter == f.failOn {
		return nil, errors.New("refused")
	}
	f.handlers[filter] = h
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.handlers, filter)
		f.cancelled = append(f.cancelled, filter)
	}, nil
}

func (f *fakeBus) Publish(name string, payload []byte) error {
	if name != topic.ControlHealthStatus {
		return errors.New("unexpected topic " + name)
	}
	s := &pb.CollectorStatus{}
	if err := proto.Unmarshal(payload, s); err != nil {
		return err
	}
	f.mu.Lock()
	f.published = append(f.published, s)
	f.mu.Unlock()
	return nil
}

func (f *fakeBus) subscribed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.handlers)
}

// deliver hands ev to the handler of its topic, if any.
func (f *fakeBus) deliver(ev *Event) bool {
	f.mu.Lock()
	h := f.handlers[ev.Topic]
	f.mu.Unlock()
	if h != nil {
		h(ev)
	}
	return h != nil
}

func (f *fakeBus) statuses() []*pb.CollectorStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.published)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// startService runs a service on a fake bus until the test ends.
func startService(t *testing.T, cfg Config) (*Service, *fakeBus) {
	t.Helper()
	bus := newFakeBus()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	s, err := NewService(bus, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	eventually(t, "the service to subscribe", func() bool { return bus.subscribed() == 3 })
	return s, bus
}

func heartbeatEvent(t *testing.T, hb *pb.Heartbeat, from Publisher) *Event {
	t.Helper()
	payload, err := proto.Marshal(hb)
	if err != nil {
		t.Fatal(err)
	}
	return &Event{Topic: topic.ControlHealthHeartbeat, Payload: payload, Publisher: from}
}

func sessionEndEvent(t *testing.T, id uint64, reason string) *Event {
	t.Helper()
	payload, err := proto.Marshal(&pb.SessionEvent{Kind: pb.SessionEvent_KIND_DISCONNECTED, SessionId: id, Reason: reason})
	if err != nil {
		t.Fatal(err)
	}
	return &Event{Topic: topic.SysSessionDisconnected, Payload: payload, Publisher: Publisher{Name: "$broker"}}
}

// request asks for the presence table through the fake bus.
func request(t *testing.T, bus *fakeBus) []*pb.CollectorStatus {
	t.Helper()
	answer := make(chan []byte, 1)
	bus.deliver(&Event{Topic: topic.ControlHealthPresence, Respond: func(p []byte) error {
		answer <- p
		return nil
	}})
	select {
	case p := <-answer:
		table := &pb.PresenceTable{}
		if err := proto.Unmarshal(p, table); err != nil {
			t.Fatal(err)
		}
		return table.Collectors
	case <-time.After(waitTimeout):
		t.Fatal("no answer to the presence request")
		return nil
	}
}

// published waits for a published status of collector in state.
func published(t *testing.T, bus *fakeBus, collector string, state pb.CollectorStatus_State) *pb.CollectorStatus {
	t.Helper()
	var found *pb.CollectorStatus
	eventually(t, collector+" "+state.String(), func() bool {
		for _, s := range bus.statuses() {
			if s.Collector == collector && s.State == state {
				found = s
				return true
			}
		}
		return false
	})
	return found
}

func TestServiceTracksHeartbeats(t *testing.T) {
	_, bus := startService(t, Config{TickInterval: time.Millisecond})
	procmond := Publisher{Name: "procmond", Instance: "h-1", SessionID: 7}
	bus.deliver(heartbeatEvent(t, &pb.Heartbeat{IntervalMs: 3_600_000, Status: "ok"}, procmond))

	alive := published(t, bus, "procmond", stateAlive)
	if alive.InstanceId != "h-1" || alive.SessionId != 7 || alive.Reason != ReasonFirstHeartbeat || alive.Status != "ok" {
		t.Fatalf("alive status %v", alive)
	}
	table := request(t, bus)
	if len(table) != 1 || table[0].Collector != "procmond" || table[0].State != stateAlive || table[0].Beats != 1 {
		t.Fatalf("table %v", table)
	}

	bus.deliver(sessionEndEvent(t, 7, "kicked"))
	gone := published(t, bus, "procmond", stateDisconnected)
	if gone.Reason != "connection ended: kicked" {
		t.Fatalf("disconnected status %v", gone)
	}
	if table := request(t, bus); len(table) != 1 || table[0].State != stateDisconnected {
		t.Fatalf("table %v", table)
	}
}

func TestServiceTicksSilentCollectorsLost(t *testing.T) {
	_, bus := startService(t, Config{TickInterval: time.Millisecond, MissedBeats: 2})
	bus.deliver(heartbeatEvent(t, &pb.Heartbeat{IntervalMs: 5}, Publisher{Name: "netmond", SessionID: 3}))
	lost := published(t, bus, "netmond", stateLost)
	if lost.Reason != "missed 2 beats (10ms)" || lost.Previous != stateAlive {
		t.Fatalf("lost status %v", lost)
	}
}

func TestServiceRefusesHeartbeatsForOthers(t *testing.T) {
	s, bus := startService(t, Config{})
	procmond := Publisher{Name: "procmond", Instance: "h-1", SessionID: 7}
	bus.deliver(heartbeatEvent(t, &pb.Heartbeat{Collector: "netmond"}, procmond))
	bus.deliver(heartbeatEvent(t, &pb.Heartbeat{Collector: "procmond", InstanceId: "h-2"}, procmond))
	// The session id is the broker's, whatever the heartbeat says.
	bus.deliver(heartbeatEvent(t, &pb.Heartbeat{Collector: "procmond", SessionId: 99}, procmond))
	alive := published(t, bus, "procmond", stateAlive)
	if alive.SessionId != 7 || alive.InstanceId != "h-1" {
		t.Fatalf("alive status %v", alive)
	}
	if st := s.Stats(); st.Refused != 2 || st.Beats != 1 {
		t.Fatalf("stats %+v", st)
	}
	if table := request(t, bus); len(table) != 1 {
		t.Fatalf("table %v", table)
	}
}

func TestServiceSurvivesUndecodablePayloads(t *testing.T) {
	s, bus := startService(t, Config{})
	garbage := []byte{0xff, 0xff, 0xff}
	bus.deliver(&Event{Topic: topic.ControlHealthHeartbeat, Payload: garbage, Publisher: Publisher{Name: "procmond"}})
	bus.deliver(&Event{Topic: topic.SysSessionDisconnected, Payload: garbage})
	bus.deliver(heartbeatEvent(t, &pb.Heartbeat{}, Publisher{Name: "procmond", SessionID: 1}))
	published(t, bus, "procmond", stateAlive)
	if st := s.Stats(); st.Undecodable != 2 || st.Beats != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestServiceIgnoresOtherSessionEvents(t *testing.T) {
	_, bus := startService(t, Config{})
	bus.deliver(heartbeatEvent(t, &pb.Heartbeat{IntervalMs: 3_600_000}, Publisher{Name: "procmond", SessionID: 7}))
	published(t, bus, "procmond", stateAlive)
	payload, _ := proto.Marshal(&pb.SessionEvent{Kind: pb.SessionEvent_KIND_SLOW_CONSUMER, SessionId: 7})
	bus.deliver(&Event{Topic: topic.SysSessionDisconnected, Payload: payload})
	// The request is handled after the event, on the same queue.
	if table := request(t, bus); len(table) != 1 || table[0].State != stateAlive {
		t.Fatalf("table %v", table)
	}
}

func TestServiceDropsWhenItsQueueIsFull(t *testing.T) {
	s, err := NewService(newFakeBus(), Config{QueueSize: 1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	// Not running: nothing drains the queue.
	s.onHeartbeat(heartbeatEvent(t, &pb.Heartbeat{}, Publisher{Name: "a"}))
	s.onHeartbeat(heartbeatEvent(t, &pb.Heartbeat{}, Publisher{Name: "b"}))
	s.onPresence(&Event{Topic: topic.ControlHealthPresence, Respond: func([]byte) error { return nil }})
	if st := s.Stats(); st.Dropped != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestServiceRunErrors(t *testing.T) {
	bus := newFakeBus()
	bus.failOn = topic.ControlHealthPresence
	err := Run(context.Background(), bus, Config{Logger: quiet})
	if err == nil {
		t.Fatal("Run succeeded with a failing subscription")
	}
	if bus.subscribed() != 0 || len(bus.cancelled) != 2 {
		t.Fatalf("after a failed Run: %d subscriptions left, %v cancelled", bus.subscribed(), bus.cancelled)
	}
	if err := Run(context.Background(), newFakeBus(), Config{MissedBeats: -1}); err == nil {
		t.Fatal("Run accepted an invalid config")
	}

	s, _ := startService(t, Config{})
	if err := s.Run(context.Background()); err == nil {
		t.Fatal("a second Run succeeded")
	}
}

func TestServiceUnsubscribesWhenDone(t *testing.T) {
	bus := newFakeBus()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, bus, Config{Logger: quiet}) }()
	eventually(t, "the service to subscribe", func() bool { return bus.subscribed() == 3 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if bus.subscribed() != 0 {
		t.Fatalf("%d subscriptions left", bus.subscribed())
	}
}

func TestAttribute(t *testing.T) {
	cases := []struct {
		name    string
		hb      *pb.Heartbeat
		from    Publisher
		want    *pb.Heartbeat
		refused bool
	}{
		{"filled in from the publisher", &pb.Heartbeat{}, Publisher{"procmond", "h-1", 7},
			&pb.Heartbeat{Collector: "procmond", InstanceId: "h-1", SessionId: 7}, false},
		{"matching names", &pb.Heartbeat{Collector: "procmond", InstanceId: "h-1", SessionId: 3}, Publisher{"procmond", "h-1", 7},
			&pb.Heartbeat{Collector: "procmond", InstanceId: "h-1", SessionId: 7}, false},
		{"publisher without an instance", &pb.Heartbeat{Collector: "agent", InstanceId: "x"}, Publisher{"agent", "", 2},
			&pb.Heartbeat{Collector: "agent", InstanceId: "x", SessionId: 2}, false},
		{"unknown publisher", &pb.Heartbeat{Collector: "procmond", SessionId: 3}, Publisher{},
			&pb.Heartbeat{Collector: "procmond", SessionId: 3}, false},
		{"another collector", &pb.Heartbeat{Collector: "netmond"}, Publisher{"procmond", "h-1", 7}, nil, true},
		{"another instance", &pb.Heartbeat{InstanceId: "h-2"}, Publisher{"procmond", "h-1", 7}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := attribute(tc.hb, tc.from)
			if tc.refused {
				if !errors.Is(err, errRefused) {
					t.Fatalf("err %v, want a refusal", err)
				}
				return
			}
			if err != nil || !proto.Equal(tc.hb, tc.want) {
				t.Fatalf("got %v, %v; want %v", tc.hb, err, tc.want)
			}
		})
	}
}
