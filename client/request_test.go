package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/acl"
	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/client"
	"github.com/daemoneye/eventbus/topic"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

func TestRequestReply(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	ropts := options(tb.sock, "procmond")
	ropts.InstanceID = "resp-1"
	responder := dial(t, ropts)
	asked := make(chan string, 4)
	if _, err := responder.Subscribe("svc.echo", func(m *client.Message) {
		asked <- m.ReplyTo()
		if err := m.Respond(append([]byte("echo:"), m.Payload...), client.WithCorrelation(m.Correlation)); err != nil {
			t.Errorf("Respond: %v", err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := responder.Subscribe("svc.silent", func(*client.Message) {}); err != nil {
		t.Fatal(err)
	}
	requester := dial(t, options(tb.sock, "agent"))
	ctx, cancel := ctxT()
	defer cancel()

	corr := &pb.Correlation{CorrelationId: "req-1", Tags: map[string]string{"k": "v"}}
	m, err := requester.Request(ctx, "svc.echo", []byte("hi"), client.WithCorrelation(corr))
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	if tok := <-asked; tok == "" {
		t.Error("the responder's message has no ReplyTo")
	}
	want := client.Publisher{ClientName: "procmond", InstanceID: "resp-1", SessionID: responder.SessionID()}
	if m.Topic != "svc.echo" || string(m.Payload) != "echo:hi" || m.Publisher != want || !proto.Equal(m.Correlation, corr) {
		t.Errorf("response %s %q from %+v with %v; want svc.echo \"echo:hi\" from %+v with %v",
			m.Topic, m.Payload, m.Publisher, m.Correlation, want, corr)
	}
	if err := m.Respond(nil); !errors.Is(err, client.ErrNotARequest) {
		t.Errorf("Respond to a response: %v; want ErrNotARequest", err)
	}

	// Nobody subscribed: the broker says so at once.
	var rerr error
	within(t, "Request without responders", func() { _, rerr = requester.Request(ctx, "svc.nobody", nil) })
	if !errors.Is(rerr, client.ErrNoResponders) {
		t.Errorf("Request without responders: %v; want ErrNoResponders", rerr)
	}

	// A responder that never answers: the deadline passes.
	short, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShort()
	within(t, "Request without an answer", func() { _, rerr = requester.Request(short, "svc.silent", nil) })
	if !errors.Is(rerr, client.ErrNoReply) || !errors.Is(rerr, context.DeadlineExceeded) {
		t.Errorf("unanswered Request: %v; want ErrNoReply and DeadlineExceeded", rerr)
	}
	if _, err := requester.Request(ctx, "svc.+", nil); !errors.Is(err, client.ErrBadTopic) {
		t.Errorf("Request to a filter: %v; want ErrBadTopic", err)
	}
	if err := requester.Err(); err != nil {
		t.Errorf("requests ended the connection: %v", err)
	}
}

func TestRespondNotARequest(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	c := dial(t, options(tb.sock, "agent"))
	in := make(inbox, 1)
	if _, err := c.Subscribe("events.#", in.handler); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := ctxT()
	defer cancel()
	if _, err := c.PublishConfirmed(ctx, "events.x", nil); err != nil {
		t.Fatal(err)
	}
	m := in.next(t)
	if m.ReplyTo() != "" {
		t.Errorf("a plain event has ReplyTo %q", m.ReplyTo())
	}
	if err := m.Respond([]byte("no")); !errors.Is(err, client.ErrNotARequest) {
		t.Errorf("Respond to a plain event: %v; want ErrNotARequest", err)
	}
	if err := new(client.Message).Respond(nil); !errors.Is(err, client.ErrNotARequest) {
		t.Errorf("Respond on a zero Message: %v; want ErrNotARequest", err)
	}
}

func TestSubscribeGroupValidation(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	c := dial(t, options(tb.sock, "agent"))
	for _, g := range []string{"", "a b", "wörkers", "x/y", "g*", strings.Repeat("g", client.MaxGroupLength+1)} {
		if _, err := c.SubscribeGroup("jobs.#", g, func(*client.Message) {}); !errors.Is(err, client.ErrBadGroup) {
			t.Errorf("SubscribeGroup(%q): %v; want ErrBadGroup", g, err)
		}
	}
	if _, err := c.SubscribeGroup("jobs.#.x", "workers", func(*client.Message) {}); !errors.Is(err, client.ErrBadFilter) {
		t.Errorf("SubscribeGroup with a bad filter: %v; want ErrBadFilter", err)
	}
	if st := tb.Stats(); st.Subscriptions != 0 {
		t.Errorf("invalid groups reached the broker: %d subscriptions", st.Subscriptions)
	}
}

func TestQueueGroup(t *testing.T) {
	const n = 20
	tb := startBroker(t, broker.Config{})
	type got struct {
		who string
		m   *client.Message
	}
	all := make(chan got, 3*n)
	var subs []*client.Subscription
	for _, name := range []string{"worker-a", "worker-b"} {
		c := dial(t, options(tb.sock, name))
		s, err := c.SubscribeGroup("jobs.#", "workers", func(m *client.Message) { all <- got{name, m} })
		if err != nil {
			t.Fatal(err)
		}
		if s.Group() != "workers" || s.Filter() != "jobs.#" {
			t.Errorf("subscription group %q filter %q", s.Group(), s.Filter())
		}
		if info := c.Subscriptions(); len(info) != 1 || info[0].Group != "workers" {
			t.Errorf("Subscriptions() = %v", info)
		}
		subs = append(subs, s)
	}
	observer := dial(t, options(tb.sock, "agent"))
	if _, err := observer.Subscribe("jobs.#", func(m *client.Message) { all <- got{"observer", m} }); err != nil {
		t.Fatal(err)
	}
	pub := dial(t, options(tb.sock, "procmond"))
	ctx, cancel := ctxT()
	defer cancel()
	for range n {
		if r, err := pub.PublishConfirmed(ctx, "jobs.scan", nil); err != nil || r != 2 {
			t.Fatalf("PublishConfirmed: %d receivers, %v; want 2 (one group member and the observer)", r, err)
		}
	}
	count := map[string]int{}
	for range 2 * n {
		select {
		case g := <-all:
			count[g.who]++
		case <-time.After(waitTimeout):
			t.Fatalf("deliveries so far %v", count)
		}
	}
	if count["observer"] != n || count["worker-a"]+count["worker-b"] != n {
		t.Errorf("deliveries %v; want %d to the observer and %d shared by the group", count, n, n)
	}
}

func TestStats(t *testing.T) {
	// agent is an admin, procmond is not.
	everything := acl.Rules{Allow: []topic.Filter{topic.MustParseFilter("#")}}
	policy := acl.AdmitFunc(func(name string, peer acl.Peer) (*acl.Principal, error) {
		return &acl.Principal{Name: name, UIDs: []uint32{peer.UID}, Publish: everything, Subscribe: everything, Admin: name == "agent"}, nil
	})
	tb := startBroker(t, broker.Config{Policy: policy})
	admin := dial(t, options(tb.sock, "agent"))
	ctx, cancel := ctxT()
	defer cancel()
	if _, err := admin.PublishConfirmed(ctx, "events.x", nil); err != nil {
		t.Fatal(err)
	}
	st, err := admin.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if st.GetBroker().GetSessions() != 1 || st.GetBroker().GetPublished() != 1 || len(st.GetSessions()) == 0 {
		t.Errorf("Stats() = %v; want 1 session and 1 publish", st)
	}
	other := dial(t, options(tb.sock, "procmond"))
	_, err = other.Stats(ctx)
	var be *client.BrokerError
	if !errors.As(err, &be) || be.Code != pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED {
		t.Errorf("Stats by a non-admin: %v; want NOT_AUTHORIZED", err)
	}
}

func TestHeartbeat(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	watcher := dial(t, options(tb.sock, "agent"))
	beats := make(inbox, 64)
	if _, err := watcher.Subscribe(client.HeartbeatTopic, beats.handler); err != nil {
		t.Fatal(err)
	}
	opts := options(tb.sock, "procmond")
	opts.InstanceID = "host-1"
	c := dial(t, opts)
	stop := c.StartHeartbeat(5*time.Millisecond, func() (string, map[string]string) {
		return "degraded", map[string]string{"queue": "full"}
	})
	var last uint64
	for i := range 3 {
		m := beats.next(t)
		hb := new(pb.Heartbeat)
		if err := proto.Unmarshal(m.Payload, hb); err != nil {
			t.Fatalf("beat %d does not decode: %v", i, err)
		}
		if hb.Collector != "procmond" || hb.InstanceId != "host-1" || hb.IntervalMs != 5 || hb.Status != "degraded" ||
			hb.Details["queue"] != "full" || hb.SessionId != c.SessionID() || hb.SentUnixNano == 0 {
			t.Errorf("beat %d: %v", i, hb)
		}
		if hb.Sequence <= last {
			t.Errorf("beat %d has sequence %d after %d", i, hb.Sequence, last)
		}
		last = hb.Sequence
	}
	within(t, "stop", stop)
	within(t, "second stop", stop)

	// nil status means "ok"; stopping a heartbeat leaves the others.
	stopOK := c.StartHeartbeat(time.Hour, nil)
	defer stopOK()
	for {
		m := beats.next(t)
		hb := new(pb.Heartbeat)
		if err := proto.Unmarshal(m.Payload, hb); err != nil {
			t.Fatal(err)
		}
		if hb.Status == "degraded" {
			continue // sent before the first stop returned
		}
		if hb.Status != "ok" || hb.Sequence != 1 || hb.IntervalMs != uint32(time.Hour/time.Millisecond) {
			t.Errorf("beat without status: %v", hb)
		}
		break
	}
	within(t, "Close with a heartbeat running", func() { c.Close() })
}
