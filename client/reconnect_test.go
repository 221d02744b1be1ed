package client_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daemoneye/eventbus/acl"
	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/client"
	"github.com/daemoneye/eventbus/topic"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// fastReconnect keeps the tests quick; the waits are still real.
var fastReconnect = client.Reconnect{InitialDelay: 2 * time.Millisecond, MaxDelay: 20 * time.Millisecond}

type stateChange struct {
	state client.State
	err   error
}

// stateLog records what OnStateChange reports.
type stateLog chan stateChange

func newStateLog() stateLog { return make(stateLog, 64) }

func (sl stateLog) record(s client.State, err error) { sl <- stateChange{s, err} }

// expect fails the test unless the next change is to want, and returns it.
func (sl stateLog) expect(t *testing.T, want client.State) stateChange {
	t.Helper()
	select {
	case ch := <-sl:
		if ch.state != want {
			t.Fatalf("state changed to %v (%v); want %v", ch.state, ch.err, want)
		}
		return ch
	case <-time.After(waitTimeout):
		t.Fatalf("no change of state to %v", want)
		return stateChange{}
	}
}

// reconnecting returns options for a client that reconnects quickly and
// records its changes of state.
func reconnecting(sock, name string) (client.Options, stateLog) {
	opts := options(sock, name)
	opts.Reconnect = fastReconnect
	states := newStateLog()
	opts.OnStateChange = states.record
	return opts, states
}

// disconnected returns a procmond client whose broker, at sock, has stopped:
// the client is reconnecting, with its state changes in the log.
func disconnected(t *testing.T) (*client.Client, string, stateLog) {
	t.Helper()
	sock := filepath.Join(shortTempDir(t), "bus.sock")
	first := serveAt(t, sock, broker.Config{}, nil)
	opts, states := reconnecting(sock, "procmond")
	c := dial(t, opts)
	states.expect(t, client.Connected)
	first.stop(t)
	states.expect(t, client.Reconnecting)
	return c, sock, states
}

// localInbox collects what a broker's in-process subscription receives.
type localInbox chan *broker.Message

func (in localInbox) subscribe(filter string) func(*broker.Broker) {
	return func(b *broker.Broker) {
		if _, err := b.Subscribe(filter, func(m *broker.Message) { in <- m }); err != nil {
			panic(err)
		}
	}
}

func (in localInbox) next(t *testing.T) *broker.Message {
	t.Helper()
	select {
	case m := <-in:
		return m
	case <-time.After(waitTimeout):
		t.Fatal("no message arrived at the broker's subscriber")
		return nil
	}
}

func isCode(err error, code pb.ErrorCode) bool {
	var be *client.BrokerError
	return errors.As(err, &be) && be.Code == code
}

func TestReconnect(t *testing.T) {
	sock := filepath.Join(shortTempDir(t), "bus.sock")
	first := serveAt(t, sock, broker.Config{}, nil)

	sopts, sstates := reconnecting(sock, "agent")
	sub := dial(t, sopts)
	sstates.expect(t, client.Connected)
	alerts := make(inbox, 4)
	alertSub, err := sub.Subscribe("alerts.#", alerts.handler)
	if err != nil {
		t.Fatal(err)
	}
	popts, pstates := reconnecting(sock, "procmond")
	pub := dial(t, popts)
	pstates.expect(t, client.Connected)

	first.stop(t)
	for _, sl := range []stateLog{sstates, pstates} {
		if ch := sl.expect(t, client.Reconnecting); !isCode(ch.err, pb.ErrorCode_ERROR_CODE_SHUTTING_DOWN) {
			t.Errorf("Reconnecting because of %v; want the broker's SHUTTING_DOWN", ch.err)
		}
	}
	if s, err := pub.State(), pub.Err(); s != client.Reconnecting || err != nil {
		t.Fatalf("publisher is %v with Err() = %v; want reconnecting and no error", s, err)
	}

	// Publishes made while the broker is down wait in the buffer.
	const n = 1000
	ctx, cancel := ctxT()
	defer cancel()
	for i := range n {
		if err := pub.Publish(ctx, "events.seq", []byte(strconv.Itoa(i))); err != nil {
			t.Fatalf("Publish %d while the broker is down: %v", i, err)
		}
	}

	// A new broker on the same path, with a subscriber in place before any
	// client can connect, gets each of them once, in order.
	got := make(localInbox, n+16)
	second := serveAt(t, sock, broker.Config{}, got.subscribe("events.#"))
	for i := range n {
		m := got.next(t)
		if m.Topic != "events.seq" || string(m.Payload) != strconv.Itoa(i) {
			t.Fatalf("message %d at the new broker: %s %q", i, m.Topic, m.Payload)
		}
	}
	pstates.expect(t, client.Connected)
	sstates.expect(t, client.Connected)
	if r, err := pub.PublishConfirmed(ctx, "events.marker", nil); err != nil || r != 1 {
		t.Fatalf("PublishConfirmed after reconnecting: %d receivers, %v", r, err)
	}
	if m := got.next(t); m.Topic != "events.marker" {
		t.Fatalf("after the %d buffered events the broker delivered %s %q; want the marker (no duplicates)", n, m.Topic, m.Payload)
	}

	// Connected means the subscription is live again, with the same id.
	if r, err := pub.PublishConfirmed(ctx, "alerts.fire", []byte("smoke")); err != nil || r != 1 {
		t.Fatalf("publish to the re-established subscription: %d receivers, %v", r, err)
	}
	if m := alerts.next(t); string(m.Payload) != "smoke" || !slices.Equal(m.SubscriptionIDs, []uint32{alertSub.ID()}) {
		t.Errorf("subscriber got %q for %v; want smoke for [%d]", m.Payload, m.SubscriptionIDs, alertSub.ID())
	}
	lists, err := sub.ListSubscriptions(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(lists) != 1 || len(lists[0].Subscriptions) != 1 || lists[0].Subscriptions[0].SubscriptionId != alertSub.ID() ||
		lists[0].Subscriptions[0].Filter != "alerts.#" || lists[0].SessionId != sub.SessionID() {
		t.Errorf("the new broker lists %v for session %d", lists, sub.SessionID())
	}
	if st := second.Stats(); st.Accepted != 2 {
		t.Errorf("the new broker accepted %d connections; want one per client", st.Accepted)
	}

	within(t, "Close", func() { sub.Close() })
	if ch := sstates.expect(t, client.Closed); !errors.Is(ch.err, client.ErrClosed) {
		t.Errorf("Closed because of %v; want ErrClosed", ch.err)
	}
	if len(sstates) != 0 {
		t.Errorf("unexpected change of state after Closed: %v", (<-sstates).state)
	}
}

func TestWhenFullWhileDisconnected(t *testing.T) {
	sock := filepath.Join(shortTempDir(t), "bus.sock")
	first := serveAt(t, sock, broker.Config{}, nil)

	fopts, fstates := reconnecting(sock, "procmond")
	fopts.WhenFull = client.FailFast
	fopts.MaxPendingMessages = 2
	failFast := dial(t, fopts)
	bopts, bstates := reconnecting(sock, "netmond")
	bopts.MaxPendingMessages = 2
	blocking := dial(t, bopts)
	yopts, ystates := reconnecting(sock, "fsmond")
	yopts.WhenFull = client.FailFast
	yopts.MaxPendingBytes = 1 << 10
	bytesBound := dial(t, yopts)
	for _, sl := range []stateLog{fstates, bstates, ystates} {
		sl.expect(t, client.Connected)
	}
	first.stop(t)
	for _, sl := range []stateLog{fstates, bstates, ystates} {
		sl.expect(t, client.Reconnecting)
	}

	ctx, cancel := ctxT()
	defer cancel()
	for _, c := range []*client.Client{failFast, blocking} {
		for i := range 2 {
			if err := c.Publish(ctx, "events.x", []byte{byte(i)}); err != nil {
				t.Fatalf("Publish %d into an empty buffer: %v", i, err)
			}
		}
	}
	var err error
	within(t, "FailFast Publish", func() { err = failFast.Publish(ctx, "events.x", nil) })
	if !errors.Is(err, client.ErrBufferFull) {
		t.Errorf("FailFast Publish into a full buffer: %v; want ErrBufferFull", err)
	}
	within(t, "FailFast PublishConfirmed", func() { _, err = failFast.PublishConfirmed(ctx, "events.x", nil) })
	if !errors.Is(err, client.ErrBufferFull) {
		t.Errorf("FailFast PublishConfirmed into a full buffer: %v; want ErrBufferFull", err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	within(t, "Block Publish", func() { err = blocking.Publish(short, "events.x", nil) })
	if !errors.Is(err, client.ErrBufferFull) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Block Publish into a full buffer: %v; want ErrBufferFull and the context's DeadlineExceeded", err)
	}
	// The byte bound: a frame always fits an empty buffer, the next does not.
	big := make([]byte, 600)
	if err := bytesBound.Publish(ctx, "events.x", big); err != nil {
		t.Fatalf("first 600-byte Publish: %v", err)
	}
	if err := bytesBound.Publish(ctx, "events.x", big); !errors.Is(err, client.ErrBufferFull) {
		t.Errorf("second 600-byte Publish within 1 KiB: %v; want ErrBufferFull", err)
	}

	// A blocked Publish goes through once the broker is back and the buffer
	// drains; nothing was dropped.
	blocked := make(chan error, 1)
	go func() { blocked <- blocking.Publish(ctx, "events.x", []byte{2}) }()
	got := make(localInbox, 16)
	serveAt(t, sock, broker.Config{}, got.subscribe("events.#"))
	select {
	case err := <-blocked:
		if err != nil {
			t.Errorf("blocked Publish: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Publish stays blocked after reconnecting")
	}
	want := map[string][]string{"procmond": {"0", "1"}, "netmond": {"0", "1", "2"}, "fsmond": {"600"}}
	have := map[string][]string{}
	for range 6 {
		m := got.next(t)
		v := fmt.Sprint(len(m.Payload))
		if len(m.Payload) == 1 {
			v = fmt.Sprint(m.Payload[0])
		}
		have[m.Publisher.ClientName] = append(have[m.Publisher.ClientName], v)
	}
	for name, w := range want {
		if !slices.Equal(have[name], w) {
			t.Errorf("from %s the broker got %v; want %v", name, have[name], w)
		}
	}
}

func TestPublishConfirmedAcrossReconnect(t *testing.T) {
	c, sock, _ := disconnected(t)

	// Buffered while disconnected: sent on the next connection, confirmed.
	ctx, cancel := ctxT()
	defer cancel()
	confirmed := make(chan error, 1)
	go func() {
		n, err := c.PublishConfirmed(ctx, "events.kept", []byte("kept"))
		if err == nil && n != 1 {
			err = fmt.Errorf("%d receivers", n)
		}
		confirmed <- err
	}()
	// Given up while still buffered: withdrawn, never sent.
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	_, err := c.PublishConfirmed(short, "events.withdrawn", nil)
	if !errors.Is(err, client.ErrNoReply) || !strings.Contains(err.Error(), "withdrawn") {
		t.Errorf("PublishConfirmed timing out while disconnected: %v; want ErrNoReply saying it was withdrawn", err)
	}

	got := make(localInbox, 16)
	serveAt(t, sock, broker.Config{}, got.subscribe("events.#"))
	select {
	case err := <-confirmed:
		if err != nil {
			t.Errorf("PublishConfirmed across the reconnection: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("PublishConfirmed hangs across the reconnection")
	}
	if m := got.next(t); m.Topic != "events.kept" {
		t.Errorf("the broker got %s first", m.Topic)
	}
	if _, err := c.PublishConfirmed(ctx, "events.marker", nil); err != nil {
		t.Fatal(err)
	}
	if m := got.next(t); m.Topic != "events.marker" {
		t.Errorf("the broker got %s; want the marker (the withdrawn publish must never be sent)", m.Topic)
	}
}

func TestPublishConfirmedOutcomeUnknown(t *testing.T) {
	fb := startFakeBroker(t, fakeWelcome)
	opts, states := reconnecting(fb.sock, "procmond")
	c := dial(t, opts)
	states.expect(t, client.Connected)
	fc := fb.accepted(t)

	ctx, cancel := ctxT()
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := c.PublishConfirmed(ctx, "events.x", []byte("once"))
		errc <- err
	}()
	// The broker reads the publish, then the connection dies before any
	// PubAck.
	if env, err := fc.read(); err != nil || env.GetPublish().GetTopic() != "events.x" {
		t.Fatalf("fake broker read %v, %v; want the publish", env, err)
	}
	fc.conn.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, client.ErrNotConnected) || !strings.Contains(err.Error(), "outcome is unknown") {
			t.Errorf("PublishConfirmed: %v; want ErrNotConnected saying the outcome is unknown", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("PublishConfirmed hangs after the connection died")
	}
	states.expect(t, client.Reconnecting)

	// The client comes back, and does not send the publish again by itself.
	fc2 := fb.accepted(t)
	states.expect(t, client.Connected)
	if err := c.Publish(ctx, "events.next", nil); err != nil {
		t.Fatal(err)
	}
	if env, err := fc2.read(); err != nil || env.GetPublish().GetTopic() != "events.next" {
		t.Fatalf("after reconnecting the broker read %v, %v; want only the new publish", env, err)
	}
}

func TestResubscriptionRefused(t *testing.T) {
	sock := filepath.Join(shortTempDir(t), "bus.sock")
	first := serveAt(t, sock, broker.Config{}, nil)
	errs := make(chan error, 4)
	opts, states := reconnecting(sock, "agent")
	opts.OnError = func(err error) { errs <- err }
	c := dial(t, opts)
	states.expect(t, client.Connected)
	in := make(inbox, 4)
	kept, err := c.Subscribe("events.#", in.handler)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Subscribe("alerts.#", in.handler); err != nil {
		t.Fatal(err)
	}
	first.stop(t)
	states.expect(t, client.Reconnecting)

	// The new broker's policy still admits the client, but no longer lets
	// it read alerts.
	events := acl.Rules{Allow: []topic.Filter{topic.MustParseFilter("events.#")}}
	policy := acl.AdmitFunc(func(name string, peer acl.Peer) (*acl.Principal, error) {
		return &acl.Principal{Name: name, UIDs: []uint32{peer.UID}, Publish: events, Subscribe: events}, nil
	})
	serveAt(t, sock, broker.Config{Policy: policy}, nil)
	states.expect(t, client.Connected)
	select {
	case err := <-errs:
		var be *client.BrokerError
		if !errors.As(err, &be) || be.Code != pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED || be.Topic != "alerts.#" {
			t.Errorf("OnError got %v; want NOT_AUTHORIZED for alerts.#", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the refused resubscription was not reported")
	}
	want := []client.SubscriptionInfo{{ID: kept.ID(), Filter: "events.#"}}
	if got := c.Subscriptions(); !slices.Equal(got, want) {
		t.Errorf("Subscriptions() = %v; want only %v", got, want)
	}
	ctx, cancel := ctxT()
	defer cancel()
	if n, err := c.PublishConfirmed(ctx, "events.y", nil); err != nil || n != 1 {
		t.Errorf("publish to the kept subscription: %d, %v", n, err)
	}
	if m := in.next(t); m.Topic != "events.y" {
		t.Errorf("got %s", m.Topic)
	}
}

func TestReconnectClaimRefused(t *testing.T) {
	c, sock, states := disconnected(t)

	refuse := acl.AdmitFunc(func(name string, _ acl.Peer) (*acl.Principal, error) {
		return nil, fmt.Errorf("%w: %s is not welcome here", acl.ErrClaimRefused, name)
	})
	second := serveAt(t, sock, broker.Config{Policy: refuse}, nil)
	select {
	case <-c.Done():
	case <-time.After(waitTimeout):
		t.Fatal("the client goes on after its claim was refused")
	}
	err := c.Err()
	if !errors.Is(err, client.ErrNotConnected) || !errors.Is(err, client.ErrRefused) ||
		!isCode(err, pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED) || !strings.Contains(err.Error(), "not welcome") {
		t.Errorf("Err() = %v; want ErrNotConnected wrapping the broker's NOT_AUTHORIZED", err)
	}
	if ch := states.expect(t, client.Closed); !isCode(ch.err, pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED) {
		t.Errorf("Closed because of %v", ch.err)
	}
	// One attempt, no retry: the client has ended, so the count is final.
	if st := second.Stats(); st.Accepted != 1 || st.ClaimsRefused != 1 {
		t.Errorf("the broker accepted %d connections and refused %d claims; want 1 and 1", st.Accepted, st.ClaimsRefused)
	}
	ctx, cancel := ctxT()
	defer cancel()
	if err := c.Publish(ctx, "events.x", nil); !errors.Is(err, client.ErrNotConnected) {
		t.Errorf("Publish after the client ended: %v", err)
	}
}

func TestDisconnectedByAdmin(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	opts, states := reconnecting(tb.sock, "procmond")
	c := dial(t, opts)
	states.expect(t, client.Connected)
	if !tb.Disconnect(c.SessionID(), "maintenance window") {
		t.Fatal("broker does not know the session")
	}
	select {
	case <-c.Done():
	case <-time.After(waitTimeout):
		t.Fatal("the client goes on after an administrator disconnected it")
	}
	if err := c.Err(); !isCode(err, pb.ErrorCode_ERROR_CODE_DISCONNECTED) || !strings.Contains(err.Error(), "maintenance window") {
		t.Errorf("Err() = %v; want the broker's DISCONNECTED with the reason", err)
	}
	states.expect(t, client.Closed)
	if st := tb.Stats(); st.Accepted != 1 {
		t.Errorf("the broker accepted %d connections; want no reconnection", st.Accepted)
	}

	// The same through DisconnectSession, from an admin client.
	opts2, states2 := reconnecting(tb.sock, "netmond")
	victim := dial(t, opts2)
	states2.expect(t, client.Connected)
	admin := dial(t, options(tb.sock, "agent"))
	ctx, cancel := ctxT()
	defer cancel()
	if err := admin.DisconnectSession(ctx, victim.SessionID(), "rotate"); err != nil {
		t.Fatal(err)
	}
	if ch := states2.expect(t, client.Closed); !isCode(ch.err, pb.ErrorCode_ERROR_CODE_DISCONNECTED) {
		t.Errorf("Closed because of %v", ch.err)
	}
}

func TestReconnectOptions(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	ctx, cancel := ctxT()
	defer cancel()
	tests := []struct {
		name   string
		modify func(*client.Options)
		msg    string
	}{
		{"initial too small", func(o *client.Options) { o.Reconnect.InitialDelay = time.Microsecond }, "InitialDelay"},
		{"initial negative", func(o *client.Options) { o.Reconnect.InitialDelay = -time.Second }, "InitialDelay"},
		{"max below initial", func(o *client.Options) {
			o.Reconnect.InitialDelay, o.Reconnect.MaxDelay = time.Second, time.Millisecond
		}, "MaxDelay"},
		{"max too large", func(o *client.Options) { o.Reconnect.MaxDelay = time.Hour }, "MaxDelay"},
		{"multiplier below 1", func(o *client.Options) { o.Reconnect.Multiplier = 0.5 }, "Multiplier"},
		{"multiplier too large", func(o *client.Options) { o.Reconnect.Multiplier = 100 }, "Multiplier"},
		{"jitter above 1", func(o *client.Options) { o.Reconnect.Jitter = 1.5 }, "Jitter"},
		{"bad WhenFull", func(o *client.Options) { o.WhenFull = 7 }, "WhenFull"},
	}
	for _, tt := range tests {
		opts := options(tb.sock, "procmond")
		tt.modify(&opts)
		c, err := client.Dial(ctx, opts)
		if err == nil {
			c.Close()
			t.Errorf("%s: Dial succeeded", tt.name)
			continue
		}
		if !strings.Contains(err.Error(), tt.msg) || errors.Is(err, client.ErrNotConnected) {
			t.Errorf("%s: Dial: %v; want an options error naming %s", tt.name, err, tt.msg)
		}
	}
	if st := tb.Stats(); st.Accepted != 0 {
		t.Errorf("invalid options still connected %d times", st.Accepted)
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[client.State]string{
		client.Connecting: "connecting", client.Connected: "connected",
		client.Reconnecting: "reconnecting", client.Closed: "closed", client.State(9): "State(9)",
	} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(s), s.String(), want)
		}
	}
}

func TestSubscribeWhileReconnecting(t *testing.T) {
	sock := filepath.Join(shortTempDir(t), "bus.sock")
	first := serveAt(t, sock, broker.Config{}, nil)
	opts, states := reconnecting(sock, "agent")
	c := dial(t, opts)
	states.expect(t, client.Connected)
	old, err := c.Subscribe("old.#", func(*client.Message) {})
	if err != nil {
		t.Fatal(err)
	}
	first.stop(t)
	states.expect(t, client.Reconnecting)

	// Unsubscribing while disconnected: not re-established.
	if err := old.Unsubscribe(); err != nil {
		t.Errorf("Unsubscribe while reconnecting: %v", err)
	}
	// Subscribing while disconnected: made on the next connection.
	in := make(inbox, 1)
	type result struct {
		sub *client.Subscription
		err error
	}
	subscribed := make(chan result, 1)
	go func() {
		ctx, cancel := ctxT()
		defer cancel()
		s, err := c.SubscribeContext(ctx, "new.#", in.handler)
		subscribed <- result{s, err}
	}()
	second := serveAt(t, sock, broker.Config{}, nil)
	var r result
	select {
	case r = <-subscribed:
		if r.err != nil {
			t.Fatalf("Subscribe across the reconnection: %v", r.err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Subscribe hangs across the reconnection")
	}
	states.expect(t, client.Connected)
	want := []client.SubscriptionInfo{{ID: r.sub.ID(), Filter: "new.#"}}
	if got := c.Subscriptions(); !slices.Equal(got, want) {
		t.Errorf("Subscriptions() = %v, want %v", got, want)
	}
	ctx, cancel := ctxT()
	defer cancel()
	if _, err := c.PublishConfirmed(ctx, "new.x", nil); err != nil {
		t.Fatal(err)
	}
	if m := in.next(t); m.Topic != "new.x" {
		t.Errorf("got %s", m.Topic)
	}
	if st := second.Stats(); st.Subscriptions != 1 {
		t.Errorf("the new broker has %d subscriptions; want only new.#", st.Subscriptions)
	}
}

func TestCloseWhileReconnecting(t *testing.T) {
	c, _, states := disconnected(t)

	ctx, cancel := ctxT()
	defer cancel()
	if err := c.Publish(ctx, "events.lost", nil); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() {
		_, err := c.PublishConfirmed(ctx, "events.lost", nil)
		waiting <- err
	}()
	within(t, "Close", func() { c.Close() })
	select {
	case err := <-waiting:
		if !errors.Is(err, client.ErrClosed) {
			t.Errorf("PublishConfirmed pending at Close: %v; want ErrClosed", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("PublishConfirmed hangs after Close")
	}
	states.expect(t, client.Closed)
	if s, err := c.State(), c.Err(); s != client.Closed || err != client.ErrClosed {
		t.Errorf("after Close: %v, %v", s, err)
	}
	if err := c.Publish(ctx, "events.x", nil); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Publish after Close: %v", err)
	}
}
