package broker_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/daemoneye/eventbus/acl"
	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/client"
	"github.com/daemoneye/eventbus/topic"
	"github.com/daemoneye/eventbus/transport"
	"github.com/daemoneye/eventbus/wire"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

func sorted(ids []uint32) []uint32 {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

func TestOverlappingSubscriptionsDeliverOnce(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	r := dialRaw(t, tb.sock)
	r.hello("agent")
	r.mustSubscribe(1, "events.#")
	r.mustSubscribe(2, "events.+.lifecycle")
	pub := dialClient(t, tb.sock, "procmond")

	if n := publishConfirmed(t, pub, "events.proc.lifecycle", []byte("a")); n != 1 {
		t.Errorf("PublishConfirmed reached %d receivers, want 1 session", n)
	}
	publishConfirmed(t, pub, "events.proc.other", []byte("b"))

	// The first event arrives once with both ids; the very next frame is
	// the second event, so there was no duplicate.
	d, info := r.readDeliver()
	if d.Topic != "events.proc.lifecycle" || string(d.Payload) != "a" {
		t.Fatalf("first delivery %q %q", d.Topic, d.Payload)
	}
	if got := sorted(info.GetSubscriptionIds()); !slices.Equal(got, []uint32{1, 2}) {
		t.Errorf("first delivery carries subscription ids %v, want [1 2]", got)
	}
	d, info = r.readDeliver()
	if d.Topic != "events.proc.other" || !slices.Equal(info.GetSubscriptionIds(), []uint32{1}) {
		t.Errorf("second delivery %q with ids %v, want events.proc.other with [1]", d.Topic, info.GetSubscriptionIds())
	}

	// Through the client: one Message, both ids, each handler called once
	// with the same Message.
	sub := dialClient(t, tb.sock, "agent2")
	in := newInbox(16)
	a := subscribe(t, sub, "events.#", in.handler)
	b := subscribe(t, sub, "events.+.lifecycle", in.handler)
	publishConfirmed(t, pub, "events.proc.lifecycle", []byte("c"))
	m1, m2 := in.next(t), in.next(t)
	if m1 != m2 {
		t.Error("the two handlers got different Messages for one delivery")
	}
	if got, want := sorted(m1.SubscriptionIDs), sorted([]uint32{a.ID(), b.ID()}); !slices.Equal(got, want) {
		t.Errorf("Message.SubscriptionIDs = %v, want %v", got, want)
	}
}

func TestWildcardSemantics(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	r := dialRaw(t, tb.sock)
	r.hello("agent")
	filters := []string{
		1: "events.#",
		2: "events.+",
		3: "events.+.lifecycle",
		4: "+.process.start",
		5: "#",
		6: "events.process.start",
		7: "+",
		8: "$SYS.+", // not $SYS.#: the broker announces sessions on $SYS.session.*
		9: "events.process.#",
	}
	for id, f := range filters {
		if f != "" {
			r.mustSubscribe(uint32(id), f)
		}
	}
	pub := dialClient(t, tb.sock, "procmond")
	tests := []struct {
		topic string
		ids   []uint32 // nil: not delivered at all
	}{
		{"events", []uint32{1, 5, 7}},
		{"events.process", []uint32{1, 2, 5, 9}},
		{"events.process.start", []uint32{1, 4, 5, 6, 9}},
		{"events.net.lifecycle", []uint32{1, 3, 5}},
		{"events.a.b.c", []uint32{1, 5}},
		{"control.process.start", []uint32{4, 5}},
		{"control.process.start.x", []uint32{5}},
		{"other", []uint32{5, 7}},
		{"eventsx.process", []uint32{5}},
		{"$SYS.stats", []uint32{8}}, // wildcards at the first level skip $ topics
		{"$SYSX.stats", nil},
	}
	var want []int
	for i, tt := range tests {
		payload := []byte(fmt.Sprint(i))
		var n int
		if strings.HasPrefix(tt.topic, "$") {
			// Only the broker itself may publish there.
			var err error
			if n, err = tb.Publish(tt.topic, payload, nil); err != nil {
				t.Fatalf("broker Publish %q: %v", tt.topic, err)
			}
		} else {
			n = publishConfirmed(t, pub, tt.topic, payload)
		}
		if wantN := min(len(tt.ids), 1); n != wantN {
			t.Errorf("publish %q reached %d receivers, want %d", tt.topic, n, wantN)
		}
		if tt.ids != nil {
			want = append(want, i)
		}
	}
	for _, i := range want {
		d, info := r.readDeliver()
		if d.Topic != tests[i].topic || string(d.Payload) != fmt.Sprint(i) {
			t.Fatalf("got %q, want %q next: a delivery is missing or extra", d.Topic, tests[i].topic)
		}
		if got := sorted(info.GetSubscriptionIds()); !slices.Equal(got, tests[i].ids) {
			t.Errorf("%q matched subscriptions %v, want %v", d.Topic, got, tests[i].ids)
		}
	}
	r.ping(1) // nothing else was delivered before the pong
}

func TestReservedTopicRefused(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	watcher := dialRaw(t, tb.sock)
	watcher.hello("watcher")
	watcher.mustSubscribe(1, "$SYS.+") // one level: $SYS.session.* announcements stay out

	c := dialClient(t, tb.sock, "procmond")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, err := c.PublishConfirmed(ctx, "$SYS.x", []byte("forged"))
	var be *client.BrokerError
	if !errors.As(err, &be) || be.Code != pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED {
		t.Fatalf("PublishConfirmed to $SYS.x: %v; want NOT_AUTHORIZED", err)
	}
	if be.Topic != "$SYS.x" || !strings.Contains(be.Message, "$SYS.x") || be.Fatal {
		t.Errorf("refusal %+v does not name the topic, or is fatal", be)
	}
	if !errors.Is(err, client.ErrRefused) {
		t.Errorf("refusal %v is not ErrRefused", err)
	}

	// Raw, without a publish id: an Error naming the topic, and the
	// session goes on.
	r := dialRaw(t, tb.sock)
	r.hello("raw")
	r.send(publishEnv("$SYS.broker.stats", []byte("forged"), 0))
	e := r.expectError(pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED)
	if e.Topic != "$SYS.broker.stats" || e.Fatal {
		t.Errorf("error %v: want topic $SYS.broker.stats, not fatal", e)
	}
	r.ping(2)

	if n := publishConfirmed(t, c, "events.ok", nil); n != 0 {
		t.Errorf("publish after the refusal reached %d receivers", n)
	}
	if err := c.Err(); err != nil {
		t.Fatalf("client disconnected after a refused publish: %v", err)
	}
	// The forged events reached nobody.
	if _, err := tb.Publish("$SYS.real", []byte("real"), nil); err != nil {
		t.Fatal(err)
	}
	if d, _ := watcher.readDeliver(); d.Topic != "$SYS.real" {
		t.Errorf("watcher got %q first, want $SYS.real", d.Topic)
	}
	if got := tb.Stats().BadPublishes; got != 2 {
		t.Errorf("Stats().BadPublishes = %d, want 2", got)
	}
}

func TestBadPublishTopic(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	r := dialRaw(t, tb.sock)
	r.hello("raw")
	for i, name := range []string{"events.+", "events.#", "events..x", "", "events.$x"} {
		id := uint64(10 + i)
		r.send(publishEnv(name, []byte("x"), id))
		e := r.expectError(pb.ErrorCode_ERROR_CODE_BAD_TOPIC)
		if e.Topic != name || e.PublishId != id || e.Fatal {
			t.Errorf("error %v: want topic %q, publish id %d, not fatal", e, name, id)
		}
		if name != "" && !strings.Contains(e.Message, name) {
			t.Errorf("error message %q does not name the topic %q", e.Message, name)
		}
		// The next publish works.
		r.send(publishEnv("events.ok", []byte("y"), id+100))
		ack := r.read().GetPubAck()
		if ack.GetPublishId() != id+100 {
			t.Fatalf("publish after the bad one answered with %v", ack)
		}
	}
}

func TestPublishOrderPreserved(t *testing.T) {
	const n = 1000
	tb := startBroker(t, broker.Config{})
	sub := dialClient(t, tb.sock, "agent")
	in := newInbox(n + 1)
	subscribe(t, sub, "events.order", in.handler)
	pub := dialClient(t, tb.sock, "procmond")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for i := range uint64(n) {
		if err := pub.Publish(ctx, "events.order", seqPayload(i, 32)); err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
	}
	for i := range uint64(n) {
		m := in.next(t)
		if s := seqOf(m.Payload); s != i || m.Dropped != 0 {
			t.Fatalf("message %d carries seq %d (dropped %d)", i, s, m.Dropped)
		}
	}
	publishConfirmed(t, pub, "events.fence", nil) // nothing after the n
	if !in.empty() {
		t.Error("more messages than published")
	}
}

func TestUnsubscribeStopsDeliveries(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	c := dialClient(t, tb.sock, "agent")
	in := newInbox(16)
	wide := subscribe(t, c, "u.#", in.handler)
	narrow := subscribe(t, c, "u.x", in.handler)
	if err := wide.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	// The publish travels the same connection after the Unsubscribe, so the
	// broker has processed it.
	if n := publishConfirmed(t, c, "u.x", []byte("1")); n != 1 {
		t.Errorf("reached %d receivers, want 1", n)
	}
	if m := in.next(t); !slices.Equal(m.SubscriptionIDs, []uint32{narrow.ID()}) {
		t.Errorf("delivery for ids %v, want only %d", m.SubscriptionIDs, narrow.ID())
	}
	if n := publishConfirmed(t, c, "u.y", []byte("2")); n != 0 {
		t.Errorf("u.y reached %d receivers after unsubscribing u.#", n)
	}
	if err := c.Unsubscribe(narrow); err != nil {
		t.Fatal(err)
	}
	if n := publishConfirmed(t, c, "u.x", []byte("3")); n != 0 {
		t.Errorf("u.x reached %d receivers after unsubscribing everything", n)
	}
	if s := tb.Stats().Subscriptions; s != 0 {
		t.Errorf("Stats().Subscriptions = %d, want 0", s)
	}
	if !in.empty() {
		t.Errorf("got %v after unsubscribing", (<-in.ch).Topic)
	}
}

// sessionNames lists the client names ListSubscriptions(all) reports.
func sessionNames(t *testing.T, c *client.Client) map[string][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	list, err := c.ListSubscriptions(ctx, true)
	if err != nil {
		t.Fatalf("ListSubscriptions(all): %v", err)
	}
	out := make(map[string][]string)
	for _, s := range list {
		var filters []string
		for _, sub := range s.Subscriptions {
			filters = append(filters, sub.Filter)
		}
		out[s.ClientName] = filters
	}
	return out
}

func TestDisconnectRemovesSubscriptions(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	admin := dialClient(t, tb.sock, "admin")

	gone := dialClient(t, tb.sock, "closer")
	subscribe(t, gone, "a.#", func(*client.Message) {})
	subscribe(t, gone, "b.+", func(*client.Message) {})
	r := dialRaw(t, tb.sock)
	r.hello("crasher")
	r.mustSubscribe(1, "c.#")
	r.mustSubscribe(2, "d")
	r.mustSubscribe(3, "e.+.f")

	if s := tb.Stats().Subscriptions; s != 5 {
		t.Fatalf("Stats().Subscriptions = %d, want 5", s)
	}
	names := sessionNames(t, admin)
	if len(names["closer"]) != 2 || len(names["crasher"]) != 3 {
		t.Fatalf("ListSubscriptions(all) = %v", names)
	}

	// A session's subscriptions go first; the session itself is listed
	// until its writer has flushed what was queued, a moment later.
	listed := func(name string) bool {
		_, ok := sessionNames(t, admin)[name]
		return ok
	}
	gone.Close()
	eventually(t, "closed client's subscriptions removed", func() bool { return tb.Stats().Subscriptions == 3 })
	eventually(t, "closed session no longer listed", func() bool { return !listed("closer") })

	r.conn.Close() // abruptly, mid-session
	eventually(t, "crashed client's subscriptions removed", func() bool { return tb.Stats().Subscriptions == 0 })
	eventually(t, "crashed session no longer listed", func() bool { return !listed("crasher") })
	if n := publishConfirmed(t, admin, "c.x", nil); n != 0 {
		t.Errorf("publish to a removed subscription's topic reached %d receivers", n)
	}
	eventually(t, "sessions removed", func() bool { return tb.Stats().Sessions == 1 })
}

// A confirmed publish is in the statistics by the time its PubAck arrives,
// even while the publishing session's reader has frames buffered behind it:
// the reader adds its counts to the shared ones only between reads. Each
// round's confirmed publish leads a burst of plain ones, so that the
// reader is still busy with the burst when the PubAck is read.
func TestConfirmedPublishIsCountedByItsAck(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	r := dialRaw(t, tb.sock)
	r.hello("procmond")
	const burst = 50_000
	for round := uint64(1); round <= 5; round++ {
		batch := r.crc.AppendPublishFrame(nil, topic.EventsProcessLifecycle, []byte("x"), nil, round)
		for range burst {
			batch = r.crc.AppendPublishFrame(batch, topic.EventsProcessLifecycle, []byte("x"), nil, 0)
		}
		if err := r.conn.SetWriteDeadline(time.Now().Add(waitTimeout)); err != nil {
			t.Fatal(err)
		}
		written := make(chan error, 1)
		go func() { _, err := r.conn.Write(batch); written <- err }()
		ack := r.read().GetPubAck()
		published := tb.Stats().Published
		if ack.GetPublishId() != round {
			t.Fatalf("got %v, want the PubAck of publish %d", ack, round)
		}
		// Everything of the earlier rounds, and this round's confirmed one.
		if want := (round-1)*(burst+1) + 1; published < want {
			t.Errorf("round %d: Stats().Published = %d once the PubAck arrived, want at least %d", round, published, want)
		}
		if err := <-written; err != nil {
			t.Fatal(err)
		}
		r.ping(round) // the burst has been read and handled
	}
}

func TestSubAckRefusals(t *testing.T) {
	tb := startBroker(t, broker.Config{MaxSubscriptions: 3})
	r := dialRaw(t, tb.sock)
	r.hello("agent")
	tests := []struct {
		name   string
		id     uint32
		filter string
		code   pb.ErrorCode // UNSPECIFIED means granted
		reason string
	}{
		{"bad filter", 5, "events.pro#cess", pb.ErrorCode_ERROR_CODE_BAD_FILTER, "level 2"},
		{"hash not last", 5, "events.#.start", pb.ErrorCode_ERROR_CODE_BAD_FILTER, "must be the last level"},
		{"empty level", 5, "events..x", pb.ErrorCode_ERROR_CODE_BAD_FILTER, "level 2"},
		{"id zero", 0, "events.#", pb.ErrorCode_ERROR_CODE_UNEXPECTED_MESSAGE, "reserved"},
		{"first", 1, "events.#", pb.ErrorCode_ERROR_CODE_UNSPECIFIED, ""},
		{"duplicate id", 1, "other.#", pb.ErrorCode_ERROR_CODE_DUPLICATE_SUBSCRIPTION, "already in use"},
		{"second", 2, "other.#", pb.ErrorCode_ERROR_CODE_UNSPECIFIED, ""},
		{"third", 3, "third", pb.ErrorCode_ERROR_CODE_UNSPECIFIED, ""},
		{"over the limit", 4, "fourth", pb.ErrorCode_ERROR_CODE_LIMIT_EXCEEDED, "at most 3"},
		{"duplicate at the limit", 3, "x", pb.ErrorCode_ERROR_CODE_DUPLICATE_SUBSCRIPTION, "already in use"},
	}
	for i, tt := range tests {
		ack := r.subscribe(tt.id, tt.filter)
		granted := tt.code == pb.ErrorCode_ERROR_CODE_UNSPECIFIED
		if ack.Granted != granted || ack.Code != tt.code || !strings.Contains(ack.Reason, tt.reason) {
			t.Errorf("%s: SubAck %v, want granted=%v code %v reason containing %q", tt.name, ack, granted, tt.code, tt.reason)
		}
		r.ping(uint64(i)) // the session goes on
	}
	if st := tb.Stats(); st.Subscriptions != 3 || st.BadSubscriptions != 3 || st.SubscriptionLimit != 1 {
		t.Errorf("Stats: %d subscriptions, %d refused for their filter, %d at the limit; want 3, 3 and 1",
			st.Subscriptions, st.BadSubscriptions, st.SubscriptionLimit)
	}
	// The refused duplicate did not replace the original subscription 1.
	pub := dialClient(t, tb.sock, "pub")
	publishConfirmed(t, pub, "events.a", nil)
	publishConfirmed(t, pub, "other.a", nil)
	if d, info := r.readDeliver(); d.Topic != "events.a" || !slices.Equal(info.SubscriptionIds, []uint32{1}) {
		t.Errorf("got %q for %v, want events.a for [1]", d.Topic, info.SubscriptionIds)
	}
	if d, info := r.readDeliver(); d.Topic != "other.a" || !slices.Equal(info.SubscriptionIds, []uint32{2}) {
		t.Errorf("got %q for %v, want other.a for [2]", d.Topic, info.SubscriptionIds)
	}
}

func TestListSubscriptions(t *testing.T) {
	tb := startBroker(t, broker.Config{LocalName: "agent-core"})
	a := dialClient(t, tb.sock, "alpha", func(o *client.Options) { o.InstanceID = "a-1" })
	b := dialClient(t, tb.sock, "beta")
	s1 := subscribe(t, a, "events.#", func(*client.Message) {})
	s2 := subscribe(t, a, "control.+", func(*client.Message) {})
	subscribe(t, b, "beta.only", func(*client.Message) {})
	local, err := tb.Subscribe("local.#", func(*broker.Message) {})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Unsubscribe()

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	own, err := a.ListSubscriptions(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(own) != 1 {
		t.Fatalf("own list has %d sessions, want 1", len(own))
	}
	s := own[0]
	if s.SessionId != a.SessionID() || s.ClientName != "alpha" || s.InstanceId != "a-1" {
		t.Errorf("own session listed as %d %q %q", s.SessionId, s.ClientName, s.InstanceId)
	}
	want := []*pb.SubscriptionInfo{{SubscriptionId: s1.ID(), Filter: "events.#"}, {SubscriptionId: s2.ID(), Filter: "control.+"}}
	if len(s.Subscriptions) != 2 || s.Subscriptions[0].SubscriptionId != want[0].SubscriptionId ||
		s.Subscriptions[0].Filter != want[0].Filter || s.Subscriptions[1].SubscriptionId != want[1].SubscriptionId ||
		s.Subscriptions[1].Filter != want[1].Filter {
		t.Errorf("own subscriptions %v, want %v", s.Subscriptions, want)
	}

	all, err := b.ListSubscriptions(ctx, true)
	if err != nil {
		t.Fatalf("ListSubscriptions(all) as the broker's own uid: %v", err)
	}
	got := map[string]string{}
	var ids []uint64
	for _, s := range all {
		var fs []string
		for _, sub := range s.Subscriptions {
			fs = append(fs, sub.Filter)
		}
		got[s.ClientName] = strings.Join(fs, ",")
		ids = append(ids, s.SessionId)
	}
	wantAll := map[string]string{"alpha": "events.#,control.+", "beta": "beta.only", "agent-core": "local.#"}
	if fmt.Sprint(got) != fmt.Sprint(wantAll) {
		t.Errorf("all sessions: %v, want %v", got, wantAll)
	}
	if !slices.IsSorted(ids) {
		t.Errorf("sessions not sorted by id: %v", ids)
	}
}

func TestListAllSubscriptionsNotAuthorized(t *testing.T) {
	notAdmin := acl.AdmitFunc(func(name string, peer acl.Peer) (*acl.Principal, error) {
		return &acl.Principal{Name: name, UIDs: []uint32{peer.UID}}, nil
	})
	tb := startBroker(t, broker.Config{Policy: notAdmin})
	c := dialClient(t, tb.sock, "nosy")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, err := c.ListSubscriptions(ctx, true)
	var be *client.BrokerError
	if !errors.As(err, &be) || be.Code != pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED {
		t.Fatalf("ListSubscriptions(all): %v; want a NOT_AUTHORIZED BrokerError", err)
	}
	if !strings.Contains(be.Message, "admin request") {
		t.Errorf("refusal does not say why: %q", be.Message)
	}
	if errors.Is(err, client.ErrNoReply) || ctx.Err() != nil {
		t.Fatalf("the refusal was not matched to the request: %v", err)
	}
	// Own subscriptions need no privilege, and the session is still up.
	if _, err := c.ListSubscriptions(ctx, false); err != nil {
		t.Fatalf("ListSubscriptions(own) after the refusal: %v", err)
	}
}

func TestInProcessAPI(t *testing.T) {
	tb := startBroker(t, broker.Config{LocalName: "agent-core"})
	got := make(chan *broker.Message, 16)
	local, err := tb.Subscribe("events.#", func(m *broker.Message) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	if local.Filter() != "events.#" {
		t.Errorf("Filter() = %q", local.Filter())
	}

	pub := dialClient(t, tb.sock, "procmond", func(o *client.Options) { o.InstanceID = "host-42" })
	corr := &pb.Correlation{CorrelationId: "c-1", Sequence: 3}
	before := time.Now()
	if n := publishConfirmed(t, pub, "events.process.start", []byte("pid=1"), client.WithCorrelation(corr)); n != 1 {
		t.Errorf("socket publish reached %d receivers, want the in-process one", n)
	}
	var m *broker.Message
	select {
	case m = <-got:
	case <-time.After(waitTimeout):
		t.Fatal("in-process subscriber got nothing")
	}
	if m.Topic != "events.process.start" || string(m.Payload) != "pid=1" || m.SubscriptionID == 0 {
		t.Errorf("in-process message %+v", m)
	}
	wantPub := broker.Publisher{ClientName: "procmond", InstanceID: "host-42", SessionID: pub.SessionID()}
	if m.Publisher != wantPub {
		t.Errorf("Publisher = %+v, want %+v", m.Publisher, wantPub)
	}
	if m.Correlation.GetCorrelationId() != "c-1" || m.Correlation.GetSequence() != 3 {
		t.Errorf("Correlation = %v", m.Correlation)
	}
	if m.Time.Before(before.Add(-time.Second)) || m.Time.After(time.Now().Add(time.Second)) {
		t.Errorf("Time %v is not when the event was published", m.Time)
	}

	// Broker.Publish reaches socket subscribers under LocalName.
	sub := dialClient(t, tb.sock, "agent")
	in := newInbox(16)
	subscribe(t, sub, "control.#", in.handler)
	payload := []byte("rescan")
	if n, err := tb.Publish("control.collector.task.process", payload, nil); err != nil || n != 1 {
		t.Fatalf("broker Publish: %d, %v; want 1 receiver", n, err)
	}
	payload[0] = 'X' // the broker copied it
	cm := in.next(t)
	if cm.Topic != "control.collector.task.process" || string(cm.Payload) != "rescan" {
		t.Errorf("socket subscriber got %q %q", cm.Topic, cm.Payload)
	}
	if cm.Publisher.ClientName != "agent-core" || cm.Publisher.SessionID == 0 {
		t.Errorf("publisher %+v, want agent-core with a session id", cm.Publisher)
	}

	// In-process publish to an in-process subscriber.
	if n, err := tb.Publish("events.self", []byte("me"), nil); err != nil || n != 1 {
		t.Fatalf("broker Publish to itself: %d, %v", n, err)
	}
	if m := <-got; m.Topic != "events.self" || m.Publisher.ClientName != "agent-core" {
		t.Errorf("self delivery %+v", m)
	}

	if _, err := tb.Publish("events.+", nil, nil); err == nil {
		t.Error("broker Publish to a wildcard topic succeeded")
	}
	if _, err := tb.Subscribe("events.#.x", func(*broker.Message) {}); err == nil {
		t.Error("broker Subscribe with an invalid filter succeeded")
	}

	local.Unsubscribe()
	local.Unsubscribe() // harmless
	if n := publishConfirmed(t, pub, "events.process.stop", nil); n != 0 {
		t.Errorf("publish after Unsubscribe reached %d receivers", n)
	}
	if len(got) != 0 {
		t.Errorf("in-process subscriber got %q after Unsubscribe", (<-got).Topic)
	}
}

func TestGracefulShutdown(t *testing.T) {
	const n = 2000
	tb := startBroker(t, broker.Config{})
	// The subscriber does not read while the events are published and the
	// broker shuts down: its socket fills and the rest waits in the broker.
	gate := make(chan struct{})
	in := newInbox(n + 1)
	sub := dialClient(t, tb.sock, "agent", noReconnect, func(o *client.Options) { o.DeliveryQueue = 1 })
	subscribe(t, sub, "events.#", func(m *client.Message) {
		<-gate
		in.handler(m)
	})
	pub := dialClient(t, tb.sock, "procmond", noReconnect)
	for i := range uint64(n) {
		if got := publishConfirmed(t, pub, "events.x", seqPayload(i, 1<<10)); got != 1 {
			t.Fatalf("publish %d queued for %d receivers", i, got)
		}
	}

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		shut <- tb.Shutdown(ctx)
	}()
	select {
	case <-tb.served:
		if !errors.Is(tb.err, broker.ErrClosed) {
			t.Errorf("Serve returned %v, want ErrClosed", tb.err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Serve did not return after Shutdown")
	}
	close(gate)

	for i := range uint64(n) {
		if s := seqOf(in.next(t).Payload); s != i {
			t.Fatalf("after shutdown the subscriber got seq %d, want %d", s, i)
		}
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	for _, c := range []*client.Client{sub, pub} {
		select {
		case <-c.Done():
		case <-time.After(waitTimeout):
			t.Fatal("client not disconnected by Shutdown")
		}
		err := c.Err()
		var be *client.BrokerError
		if !errors.Is(err, client.ErrNotConnected) || !errors.As(err, &be) ||
			be.Code != pb.ErrorCode_ERROR_CODE_SHUTTING_DOWN || !strings.Contains(err.Error(), "shutting down") {
			t.Errorf("client.Err() = %v, want the broker's SHUTTING_DOWN", err)
		}
	}
	if s := tb.Stats().Sessions; s != 0 {
		t.Errorf("%d sessions left after Shutdown", s)
	}
	if _, err := tb.Publish("events.x", nil, nil); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Publish after Shutdown: %v, want ErrClosed", err)
	}
	if _, err := tb.Subscribe("events.x", func(*broker.Message) {}); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Subscribe after Shutdown: %v, want ErrClosed", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if conn, err := transport.Dial(ctx, tb.sock); err == nil {
		conn.Close()
		t.Error("the socket still accepts connections after Shutdown")
	}
}

func TestPublishConfirmedReceivers(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	pub := dialClient(t, tb.sock, "procmond")
	if n := publishConfirmed(t, pub, "events.x", nil); n != 0 {
		t.Errorf("no subscriber: %d receivers, want 0", n)
	}
	s1 := dialClient(t, tb.sock, "one")
	subscribe(t, s1, "events.#", func(*client.Message) {})
	subscribe(t, s1, "events.x", func(*client.Message) {})
	if n := publishConfirmed(t, pub, "events.x", nil); n != 1 {
		t.Errorf("one session with two matching subscriptions: %d receivers, want 1", n)
	}
	s2 := dialClient(t, tb.sock, "two")
	subscribe(t, s2, "+.x", func(*client.Message) {})
	if n := publishConfirmed(t, pub, "events.x", nil); n != 2 {
		t.Errorf("two sessions: %d receivers, want 2", n)
	}
	if n := publishConfirmed(t, pub, "events.y", nil); n != 1 {
		t.Errorf("events.y: %d receivers, want 1", n)
	}
	// The publisher's own subscription counts too.
	subscribe(t, pub, "events.x", func(*client.Message) {})
	if n := publishConfirmed(t, pub, "events.x", nil); n != 3 {
		t.Errorf("with the publisher subscribed: %d receivers, want 3", n)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  broker.Config
		msg  string // "" means valid
	}{
		{"zero", broker.Config{}, ""},
		{"defaults", broker.DefaultConfig(), ""},
		{"idle 300ms", broker.Config{IdleTimeout: 300 * time.Millisecond}, ""},
		{"queue bytes = max frame", broker.Config{QueueBytes: 64 << 10, Wire: wire.Config{MaxFrameSize: 64 << 10}}, ""},
		{"negative connections", broker.Config{MaxConnections: -1}, "max connections must not be negative"},
		{"negative handshake", broker.Config{HandshakeTimeout: -time.Second}, "handshake timeout must not be negative"},
		{"negative idle", broker.Config{IdleTimeout: -time.Second}, "idle timeout must not be negative"},
		{"negative write", broker.Config{WriteTimeout: -1}, "write timeout must not be negative"},
		{"negative subscriptions", broker.Config{MaxSubscriptions: -5}, "max subscriptions must not be negative"},
		{"negative queue messages", broker.Config{QueueMessages: -1}, "queue messages must not be negative"},
		{"negative queue bytes", broker.Config{QueueBytes: -1}, "queue bytes must not be negative"},
		{"tiny idle", broker.Config{IdleTimeout: 299 * time.Millisecond}, "below 300ms"},
		{"queue bytes < max frame", broker.Config{QueueBytes: 64<<10 - 1, Wire: wire.Config{MaxFrameSize: 64 << 10}},
			"smaller than one maximal frame"},
		// Zero values stand for their defaults in the comparison.
		{"queue bytes < default max frame", broker.Config{QueueBytes: 1024}, "queue bytes 1024 smaller than one maximal frame (1048576)"},
		{"default queue bytes < max frame", broker.Config{Wire: wire.Config{MaxFrameSize: 32 << 20}},
			"queue bytes 16777216 smaller than one maximal frame (33554432)"},
		{"large frame, large queue", broker.Config{Wire: wire.Config{MaxFrameSize: 32 << 20}, QueueBytes: 32 << 20}, ""},
		{"small queue, derived mark", broker.Config{QueueMessages: 100}, ""},
		{"mark at the limit", broker.Config{QueueMessages: 100, FlowControlMessages: 100}, ""},
		{"mark above the limit", broker.Config{QueueMessages: 100, FlowControlMessages: 101},
			"flow control mark of 101 events above the queue's 100"},
		{"mark above the default limit", broker.Config{FlowControlMessages: 70000}, "above the queue's 65536"},
		{"negative mark", broker.Config{FlowControlMessages: -1}, "flow control messages must not be negative"},
		{"bad wire", broker.Config{Wire: wire.Config{MaxFrameSize: 100}}, "max frame size"},
		{"bad crc", broker.Config{Wire: wire.Config{CRC: 7}}, "CRC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				b, err := broker.New(tt.cfg)
				if err != nil || b == nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Validate() = %v, want an error saying %q", err, tt.msg)
			}
			if b, err := broker.New(tt.cfg); err == nil || b != nil {
				t.Errorf("New accepted the config: %v", err)
			}
		})
	}
	// The mark follows a small queue unless it is set.
	for _, tc := range []struct{ queue, mark, want int }{
		{0, 0, broker.DefaultFlowControlMessages},
		{1000, 0, 500},
		{1, 0, 1},
		{1000, 10, 10},
	} {
		b, err := broker.New(broker.Config{QueueMessages: tc.queue, FlowControlMessages: tc.mark})
		if err != nil {
			t.Fatalf("queue %d, mark %d: %v", tc.queue, tc.mark, err)
		}
		if got := b.Config().FlowControlMessages; got != tc.want {
			t.Errorf("queue %d, mark %d: effective mark %d, want %d", tc.queue, tc.mark, got, tc.want)
		}
	}
	// Every problem is reported, not only the first.
	err := broker.Config{MaxConnections: -1, QueueMessages: -1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "max connections") || !strings.Contains(err.Error(), "queue messages") {
		t.Errorf("two problems reported as %v", err)
	}
}

// TestShutdownWhileFlooded shuts down while a session's client publishes
// without end: the session must stop at once instead of serving its input
// (and then idling) until Shutdown's context ends. The flood never runs
// dry, so a session that served its input first would never stop.
func TestShutdownWhileFlooded(t *testing.T) {
	var flood []byte
	one := validFrame(t, wire.CRCIEEE, publishEnv("events.x", []byte("x"), 0))
	for range 1000 {
		flood = append(flood, one...)
	}
	tb := startBroker(t, broker.Config{})
	r := dialRaw(t, tb.sock)
	r.hello("flood")
	go func() {
		// Ends once the broker has closed the connection.
		for {
			if _, err := r.conn.Write(flood); err != nil {
				return
			}
		}
	}()
	eventually(t, "the flood being served", func() bool { return tb.Stats().Published > 100 })

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := tb.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v (served %d publishes)", err, tb.Stats().Published)
	}
	r.expectError(pb.ErrorCode_ERROR_CODE_SHUTTING_DOWN)
}

// noReconnect keeps a client to one connection, for tests of how the broker
// ends sessions.
func noReconnect(o *client.Options) { o.Reconnect.Disabled = true }

// A publisher's stream on one topic is routed from its session's memo; each
// subscription change made meanwhile by another session must reach it at
// once, and the hits must be counted.
func TestPublisherStreamFollowsSubscriptionChanges(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	pub := dialClient(t, tb.sock, "publisher")
	other := dialClient(t, tb.sock, "other")
	const name = "events.process.lifecycle"
	for range 3 {
		if n := publishConfirmed(t, pub, name, []byte("x")); n != 0 {
			t.Fatalf("reached %d receivers with no subscription", n)
		}
	}
	in := newInbox(16)
	sub := subscribe(t, other, "events.process.+", in.handler)
	if n := publishConfirmed(t, pub, name, []byte("1")); n != 1 {
		t.Fatalf("reached %d receivers after a subscription, want 1", n)
	}
	in.next(t)
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	// Unsubscribe does not wait for the broker; a confirmed publish on the
	// same connection does.
	publishConfirmed(t, other, "sync", nil)
	if n := publishConfirmed(t, pub, name, []byte("2")); n != 0 {
		t.Fatalf("reached %d receivers after the unsubscription, want 0", n)
	}
	subscribe(t, other, "events.#", in.handler)
	if n := publishConfirmed(t, pub, name, []byte("3")); n != 1 {
		t.Fatalf("reached %d receivers after a new subscription, want 1", n)
	}
	in.next(t)
	other.Close()
	eventually(t, "the closed session's subscription removed", func() bool { return tb.Stats().Subscriptions == 0 })
	if n := publishConfirmed(t, pub, name, []byte("4")); n != 0 {
		t.Fatalf("reached %d receivers after the subscriber left, want 0", n)
	}
	before := tb.Stats().RouteCacheHits
	for range 5 {
		publishConfirmed(t, pub, name, []byte("5"))
	}
	// The session adds its memo's hits once it has handled what it read,
	// which may be just after the last acknowledgement left.
	eventually(t, "5 more route cache hits", func() bool { return tb.Stats().RouteCacheHits-before >= 5 })
}

// A session publishing a stream on one topic is checked again when a policy
// reload narrows its rights: the next publish on that topic is refused.
func TestPolicyReloadRefusesAStreamMidway(t *testing.T) {
	uid := uint32(os.Geteuid())
	policy := func(allow string) acl.Admitter {
		p, err := acl.New("test", &acl.Principal{
			Name: "collector", UIDs: []uint32{uid},
			Publish: acl.Rules{Allow: []topic.Filter{topic.MustParseFilter(allow)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tb := startBroker(t, broker.Config{Policy: policy("events.#")})
	c := dialClient(t, tb.sock, "collector")
	const name = "events.process.lifecycle"
	for range 3 {
		publishConfirmed(t, c, name, []byte("x"))
	}
	tb.SetPolicy(policy("events.network.#"))
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, err := c.PublishConfirmed(ctx, name, []byte("y"))
	var be *client.BrokerError
	if !errors.As(err, &be) || be.Code != pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED {
		t.Fatalf("publish after the reload: %v; want a NOT_AUTHORIZED BrokerError", err)
	}
	publishConfirmed(t, c, "events.network.connection", []byte("z"))
}
