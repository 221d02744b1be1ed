package broker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/topic"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

func (r *rawConn) subscribeGroup(id uint32, filter, group string) *pb.SubAck {
	r.t.Helper()
	r.send(&pb.Envelope{Kind: &pb.Envelope_Subscribe{Subscribe: &pb.Subscribe{SubscriptionId: id, Filter: filter, QueueGroup: group}}})
	ack := r.read().GetSubAck()
	if ack == nil || ack.SubscriptionId != id {
		r.t.Fatalf("want the SubAck for %d, got %v", id, ack)
	}
	return ack
}

// drain reads n deliveries and returns their payloads.
func (r *rawConn) drain(n int) []string {
	r.t.Helper()
	out := make([]string, 0, n)
	for range n {
		d, _ := r.readDeliver()
		out = append(out, string(d.Payload))
	}
	return out
}

// Each event goes to exactly one member of a queue group, round robin, and
// to every plain subscriber; when a member leaves, the rest get everything.
func TestQueueGroupSharesAndFailsOver(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	const task = topic.ControlCollectorTaskProcess
	a, b, plain := dialRaw(t, tb.sock), dialRaw(t, tb.sock), dialRaw(t, tb.sock)
	for _, r := range []*rawConn{a, b, plain} {
		r.hello("procmond")
	}
	for _, r := range []*rawConn{a, b} {
		if ack := r.subscribeGroup(1, task, "procmond"); !ack.Granted {
			t.Fatalf("group subscription refused: %v", ack)
		}
	}
	plain.mustSubscribe(1, "control.collector.#")
	if ack := a.subscribeGroup(2, task, "bad group!"); ack.Granted || ack.Code != pb.ErrorCode_ERROR_CODE_BAD_FILTER {
		t.Fatalf("an invalid group name was not refused: %v", ack)
	}

	const n = 100
	for i := range n {
		if _, err := tb.Publish(task, []byte(fmt.Sprint(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	got := plain.drain(n)
	for i, p := range got {
		if p != fmt.Sprint(i) {
			t.Fatalf("plain subscriber: event %d is %q", i, p)
		}
	}
	// Round robin over two members with room: exactly half each, and
	// together every task once.
	seen := map[string]int{}
	for _, r := range []*rawConn{a, b} {
		for _, p := range r.drain(n / 2) {
			seen[p]++
		}
	}
	for i := range n {
		if seen[fmt.Sprint(i)] != 1 {
			t.Fatalf("task %d delivered %d times to the group", i, seen[fmt.Sprint(i)])
		}
	}

	// b leaves: every later task goes to a, none to the dead member.
	b.conn.Close()
	eventually(t, "b's subscription removed", func() bool { return tb.Stats().Subscriptions == 2 })
	for i := range 10 {
		if n, err := tb.Publish(task, []byte(fmt.Sprint("after-", i)), nil); err != nil || n != 2 {
			t.Fatalf("publish after the member left: %d receivers, %v", n, err)
		}
	}
	for i, p := range a.drain(10) {
		if p != fmt.Sprint("after-", i) {
			t.Fatalf("remaining member got %q, want after-%d", p, i)
		}
	}
}

// A request is delivered with a reply token; the first reply reaches the
// requester as a Response, later ones are dropped; no subscriber means
// NO_RESPONDERS at once; no reply means TIMEOUT.
func TestRequestReply(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	responder, requester := dialRaw(t, tb.sock), dialRaw(t, tb.sock)
	responder.hello("procmond")
	requester.hello("daemoneye-agent")
	responder.mustSubscribe(1, topic.ControlHealthDiagnostics)

	request := func(id uint64, name string, timeout uint32) {
		requester.send(&pb.Envelope{Kind: &pb.Envelope_Request{Request: &pb.Request{
			RequestId: id, Topic: name, Payload: []byte("how are you"), TimeoutMs: timeout,
		}}})
	}
	request(7, topic.ControlHealthDiagnostics, 5000)
	d, _ := responder.readDeliver()
	if d.ReplyTo == "" || string(d.Payload) != "how are you" || d.Publisher.ClientName != "daemoneye-agent" {
		t.Fatalf("request delivered as %v", d)
	}
	reply := func(token, payload string) {
		responder.send(&pb.Envelope{Kind: &pb.Envelope_Reply{Reply: &pb.Reply{ReplyTo: token, Payload: []byte(payload)}}})
	}
	reply(d.ReplyTo, "fine")
	reply(d.ReplyTo, "second answer") // dropped: the request is answered
	reply("forged-token", "nobody asked")
	resp := requester.read().GetResponse()
	if resp == nil || resp.RequestId != 7 || string(resp.Payload) != "fine" || resp.Responder.GetClientName() != "procmond" {
		t.Fatalf("response %v", resp)
	}
	// Nothing else is on its way: the next frame answers a ping.
	requester.ping(1)

	request(8, "control.health.status", 5000)
	if e := requester.expectError(pb.ErrorCode_ERROR_CODE_NO_RESPONDERS); e.RequestId != 8 {
		t.Fatalf("no-responders error for request %d, want 8", e.RequestId)
	}

	request(9, topic.ControlHealthDiagnostics, 200)
	responder.readDeliver() // delivered, never answered
	if e := requester.expectError(pb.ErrorCode_ERROR_CODE_TIMEOUT); e.RequestId != 9 {
		t.Fatalf("timeout error for request %d, want 9", e.RequestId)
	}
}

// A session has at most MaxPendingRequests requests open: the next one is
// refused with LIMIT_EXCEEDED and counted, and an answer makes room again.
func TestOpenRequestLimit(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	responder, requester := dialRaw(t, tb.sock), dialRaw(t, tb.sock)
	responder.hello("procmond")
	requester.hello("daemoneye-agent")
	responder.mustSubscribe(1, topic.ControlHealthDiagnostics)
	request := func(id uint64) {
		requester.send(&pb.Envelope{Kind: &pb.Envelope_Request{Request: &pb.Request{
			RequestId: id, Topic: topic.ControlHealthDiagnostics, TimeoutMs: 60_000,
		}}})
	}
	for id := uint64(1); id <= broker.MaxPendingRequests; id++ {
		request(id)
	}
	over := uint64(broker.MaxPendingRequests + 1)
	request(over)
	if e := requester.expectError(pb.ErrorCode_ERROR_CODE_LIMIT_EXCEEDED); e.RequestId != over {
		t.Fatalf("limit error for request %d, want %d", e.RequestId, over)
	}
	if n := tb.Stats().RequestLimit; n != 1 {
		t.Errorf("Stats().RequestLimit = %d, want 1", n)
	}

	d, _ := responder.readDeliver()
	responder.send(&pb.Envelope{Kind: &pb.Envelope_Reply{Reply: &pb.Reply{ReplyTo: d.ReplyTo, Payload: []byte("ok")}}})
	if resp := requester.read().GetResponse(); resp.GetRequestId() != 1 {
		t.Fatalf("response %v, want one to request 1", resp)
	}
	request(over + 1)
	requester.ping(1) // the request took the room the answer made: no error came first
	if n := tb.Stats().RequestLimit; n != 1 {
		t.Errorf("Stats().RequestLimit = %d after room was made, want 1", n)
	}
}

// A request is routed with one lookup of its topic, as a publish is, so
// the route-cache statistics count requests once.
func TestRequestIsOneRouteLookup(t *testing.T) {
	tb := startBroker(t, broker.Config{StatsInterval: -1})
	responder, requester := dialRaw(t, tb.sock), dialRaw(t, tb.sock)
	responder.hello("procmond")
	requester.hello("daemoneye-agent")
	responder.mustSubscribe(1, topic.ControlHealthDiagnostics)
	lookups := func() uint64 { st := tb.Stats(); return st.RouteCacheHits + st.RouteCacheMisses }
	for id := range uint64(3) {
		before := lookups()
		requester.send(&pb.Envelope{Kind: &pb.Envelope_Request{Request: &pb.Request{
			RequestId: id + 1, Topic: topic.ControlHealthDiagnostics, TimeoutMs: 5000,
		}}})
		responder.readDeliver()
		if got := lookups() - before; got != 1 {
			t.Fatalf("request %d counted %d route lookups, want 1", id+1, got)
		}
	}
}

// The hosting program can answer and make requests in process.
func TestInProcessRequestReply(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	if _, err := tb.Subscribe(topic.ControlHealthPresence, func(m *broker.Message) {
		if !m.IsRequest() || !m.Respond([]byte("table"), nil) {
			t.Errorf("could not answer %v", m)
		}
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	m, err := tb.Request(ctx, topic.ControlHealthPresence, []byte("?"), nil)
	if err != nil || string(m.Payload) != "table" {
		t.Fatalf("in-process request: %v, %v", m, err)
	}
	_, err = tb.Request(ctx, "control.nobody.listens", nil, nil)
	if !errors.Is(err, broker.ErrNoResponders) {
		t.Fatalf("request with no subscriber: %v, want ErrNoResponders", err)
	}

	// A socket client answers an in-process request.
	r := dialRaw(t, tb.sock)
	r.hello("procmond")
	r.mustSubscribe(1, topic.ControlHealthDiagnostics)
	answered := make(chan error, 1)
	go func() {
		m, err := tb.Request(ctx, topic.ControlHealthDiagnostics, nil, nil)
		if err == nil && string(m.Payload) != "ok" {
			err = fmt.Errorf("payload %q", m.Payload)
		}
		answered <- err
	}()
	d, _ := r.readDeliver()
	r.send(&pb.Envelope{Kind: &pb.Envelope_Reply{Reply: &pb.Reply{ReplyTo: d.ReplyTo, Payload: []byte("ok")}}})
	if err := <-answered; err != nil {
		t.Fatal(err)
	}
}

// The broker announces sessions on $SYS.session.*, with the kernel's
// credentials and why a session ended.
func TestSessionEvents(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	events := make(chan *pb.SessionEvent, 16)
	if _, err := tb.Subscribe(topic.SysPrefix+".session.#", func(m *broker.Message) {
		ev := new(pb.SessionEvent)
		if err := proto.Unmarshal(m.Payload, ev); err != nil {
			t.Errorf("undecodable session event on %s: %v", m.Topic, err)
		}
		events <- ev
	}); err != nil {
		t.Fatal(err)
	}
	next := func() *pb.SessionEvent {
		select {
		case ev := <-events:
			return ev
		case <-time.After(waitTimeout):
			t.Fatal("no session event")
			return nil
		}
	}
	r := dialRaw(t, tb.sock)
	w := r.hello("procmond")
	ev := next()
	if ev.Kind != pb.SessionEvent_KIND_CONNECTED || ev.SessionId != w.SessionId || ev.ClientName != "procmond" || ev.Pid == 0 {
		t.Fatalf("connect event %v", ev)
	}
	r.conn.Close()
	ev = next()
	if ev.Kind != pb.SessionEvent_KIND_DISCONNECTED || ev.SessionId != w.SessionId || ev.Reason != "closed" {
		t.Fatalf("disconnect event %v", ev)
	}
}

// A receiver that keeps its queue full longer than SlowConsumerTimeout is
// announced once and then disconnected; the publisher never waits for it.
func TestSlowConsumerDisconnected(t *testing.T) {
	tb := startBroker(t, broker.Config{QueueMessages: 16, SlowConsumerTimeout: 300 * time.Millisecond})
	slowEvents := make(chan *pb.SessionEvent, 1024)
	if _, err := tb.Subscribe(topic.SysSessionSlow, func(m *broker.Message) {
		ev := new(pb.SessionEvent)
		_ = proto.Unmarshal(m.Payload, ev)
		slowEvents <- ev
	}); err != nil {
		t.Fatal(err)
	}
	stuck := dialRaw(t, tb.sock)
	w := stuck.hello("daemoneye-agent")
	stuck.mustSubscribe(1, "events.#")
	payload := make([]byte, 4096)
	deadline := time.Now().Add(waitTimeout)
	for tb.Stats().SlowConsumers == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("stuck receiver not disconnected: %+v", tb.Stats())
		}
		if _, err := tb.Publish("events.process.lifecycle", payload, nil); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case ev := <-slowEvents:
		if ev.SessionId != w.SessionId || ev.Dropped == 0 {
			t.Fatalf("slow-consumer event %v", ev)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no $SYS.session.slow event")
	}
	// Announced per episode of a full queue, not per dropped event. (While
	// the kernel's socket buffer still takes frames, the queue may drain a
	// little between episodes, so there can be a few.)
	if st := tb.Stats(); uint64(len(slowEvents)+1) >= st.Dropped {
		t.Fatalf("%d slow-consumer announcements for %d drops", len(slowEvents)+1, st.Dropped)
	}
	eventually(t, "the stuck session to be gone", func() bool { return tb.Stats().Sessions == 0 })
}

// A receiver that stops reading while its connection stays open ends, once
// a write to it times out, with reason "write" on $SYS.session.disconnected:
// an operator must be able to tell a stuck client from one that went away.
func TestWriteTimeoutEndsSessionAsWrite(t *testing.T) {
	tb := startBroker(t, broker.Config{
		WriteTimeout: 100 * time.Millisecond,
		// Neither of the other limits may end the stuck session first.
		IdleTimeout:         time.Minute,
		SlowConsumerTimeout: -1,
	})
	ended := make(chan *pb.SessionEvent, 16)
	if _, err := tb.Subscribe(topic.SysSessionDisconnected, func(m *broker.Message) {
		ev := new(pb.SessionEvent)
		if err := proto.Unmarshal(m.Payload, ev); err != nil {
			t.Errorf("undecodable session event: %v", err)
		}
		ended <- ev
	}); err != nil {
		t.Fatal(err)
	}
	stuck := dialRaw(t, tb.sock)
	w := stuck.hello("daemoneye-agent")
	stuck.mustSubscribe(1, "events.#")

	// Publish until the socket buffers are full and the broker's write to
	// the stuck receiver times out; the receiver never reads again.
	payload := make([]byte, 4096)
	deadline := time.Now().Add(waitTimeout)
	var ev *pb.SessionEvent
	for ev == nil {
		select {
		case ev = <-ended:
		default:
			if time.Now().After(deadline) {
				t.Fatalf("stuck receiver not disconnected: %+v", tb.Stats())
			}
			if _, err := tb.Publish("events.process.lifecycle", payload, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if ev.SessionId != w.SessionId || ev.Reason != "write" || !strings.Contains(ev.Detail, "did not complete within 100ms") {
		t.Fatalf("disconnect event %v, want session %d with reason write and the write timeout in its detail", ev, w.SessionId)
	}
	if st := tb.Stats(); st.WriteTimeouts != 1 || st.Sessions != 0 {
		t.Fatalf("after the write timeout: %d write timeouts, %d sessions; want 1 and 0", st.WriteTimeouts, st.Sessions)
	}
}

// An admin's StatsRequest gets per-session and per-topic counters.
func TestStatsRequest(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	r := dialRaw(t, tb.sock)
	w := r.hello("daemoneye-agent")
	r.mustSubscribe(1, "events.#")
	for range 3 {
		if _, err := tb.Publish("events.process.lifecycle", []byte("x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	r.drain(3)
	r.send(&pb.Envelope{Kind: &pb.Envelope_StatsRequest{StatsRequest: &pb.StatsRequest{RequestId: 5}}})
	rep := r.read().GetStatsReply()
	if rep == nil || rep.RequestId != 5 {
		t.Fatalf("stats reply %v", rep)
	}
	if rep.Broker.Published < 3 || rep.Broker.Sessions != 1 {
		t.Fatalf("broker stats %v", rep.Broker)
	}
	var mine *pb.SessionStats
	for _, s := range rep.Sessions {
		if s.SessionId == w.SessionId {
			mine = s
		}
	}
	if mine == nil || mine.Delivered != 3 || mine.BytesIn == 0 || mine.BytesOut == 0 || mine.Subscriptions != 1 {
		t.Fatalf("session stats %v", mine)
	}
	found := false
	for _, ts := range rep.Topics {
		if ts.Topic == "events.process.lifecycle" {
			found = ts.Published == 3 && ts.Delivered == 3
		}
	}
	if !found {
		t.Fatalf("topic stats %v", rep.Topics)
	}
}
