package client_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/client"
	"github.com/daemoneye/eventbus/internal/testpolicy"
	"github.com/daemoneye/eventbus/transport"
	"github.com/daemoneye/eventbus/wire"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// waitTimeout bounds every wait: it only turns a hang into a failure.
const waitTimeout = 10 * time.Second

var quiet = slog.New(slog.DiscardHandler)

func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "eb-") // t.TempDir can be too long for a socket path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

type testBroker struct {
	*broker.Broker
	sock   string
	served chan struct{} // closed when Serve has returned
}

// startBroker serves a real broker on a fresh socket until the test ends.
func startBroker(t *testing.T, cfg broker.Config) *testBroker {
	t.Helper()
	return serveAt(t, filepath.Join(shortTempDir(t), "bus.sock"), cfg, nil)
}

// serveAt serves a real broker on sock until the test ends or stop is
// called. setup, if not nil, runs before the socket exists, so that
// whatever it sets up precedes every client.
func serveAt(t *testing.T, sock string, cfg broker.Config, setup func(*broker.Broker)) *testBroker {
	t.Helper()
	cfg.Logger = quiet
	if cfg.Policy == nil {
		// Access control has its own tests; these are about the client.
		cfg.Policy = testpolicy.Open()
	}
	b, err := broker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(b)
	}
	ln, err := transport.Listen(sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	tb := &testBroker{Broker: b, sock: sock, served: make(chan struct{})}
	go func() {
		b.Serve(ln)
		close(tb.served)
	}()
	t.Cleanup(func() {
		b.Close()
		<-tb.served
	})
	return tb
}

// stop shuts the broker down as eventbusd does on SIGTERM: its sessions are
// told SHUTTING_DOWN, and the socket is gone when stop returns.
func (tb *testBroker) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	if err := tb.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	<-tb.served
}

func options(sock, name string) client.Options {
	return client.Options{Endpoint: sock, Name: name, Logger: quiet}
}

func dial(t *testing.T, opts client.Options) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// within runs f and fails the test if it does not return in waitTimeout.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatalf("%s hangs", what)
	}
}

// eventually polls cond until it holds, failing the test after waitTimeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func ctxT() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), waitTimeout)
}

// inbox collects messages from subscription handlers.
type inbox chan *client.Message

func (in inbox) handler(m *client.Message) { in <- m }

func (in inbox) next(t *testing.T) *client.Message {
	t.Helper()
	select {
	case m := <-in:
		return m
	case <-time.After(waitTimeout):
		t.Fatal("no message arrived")
		return nil
	}
}

// fakeBroker is a listener the test controls: it completes the handshake
// by hand with welcome and then does only what the test does with the
// connection.
type fakeBroker struct {
	sock  string
	conns chan *fakeConn
}

type fakeConn struct {
	conn  net.Conn
	rd    *wire.Reader
	hello *pb.Hello
}

func startFakeBroker(t *testing.T, welcome *pb.Welcome) *fakeBroker {
	t.Helper()
	sock := filepath.Join(shortTempDir(t), "bus.sock")
	ln, err := transport.Listen(sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	fb := &fakeBroker{sock: sock, conns: make(chan *fakeConn, 4)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, conn)
			mu.Unlock()
			fc := &fakeConn{conn: conn, rd: wire.NewReader(conn, wire.Config{})}
			env, err := fc.read()
			if err != nil || env.GetHello() == nil {
				conn.Close()
				continue
			}
			fc.hello = env.GetHello()
			if welcome != nil {
				frame, _ := wire.CRCIEEE.AppendEnvelope(nil, &pb.Envelope{Kind: &pb.Envelope_Welcome{Welcome: welcome}})
				if _, err := conn.Write(frame); err != nil {
					conn.Close()
					continue
				}
			}
			fb.conns <- fc
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return fb
}

func (fc *fakeConn) read() (*pb.Envelope, error) {
	_ = fc.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	msg, err := fc.rd.ReadFrame()
	if err != nil {
		return nil, err
	}
	env := new(pb.Envelope)
	return env, wire.DecodeEnvelope(msg, env)
}

func (fb *fakeBroker) accepted(t *testing.T) *fakeConn {
	t.Helper()
	select {
	case fc := <-fb.conns:
		return fc
	case <-time.After(waitTimeout):
		t.Fatal("the client did not complete the handshake")
		return nil
	}
}

var fakeWelcome = &pb.Welcome{
	ProtocolVersion: wire.ProtocolVersion, SessionId: 1, MaxFrameSize: wire.DefaultMaxFrameSize,
	MaxSubscriptions: 16, IdleTimeoutMs: 600_000, PingIntervalMs: 200_000,
}

func TestDialNoBroker(t *testing.T) {
	sock := filepath.Join(shortTempDir(t), "absent.sock")
	ctx, cancel := ctxT()
	defer cancel()
	c, err := client.Dial(ctx, options(sock, "procmond"))
	if err == nil {
		c.Close()
		t.Fatal("Dial to a missing endpoint succeeded")
	}
	if !errors.Is(err, client.ErrNotConnected) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Dial: %v; want ErrNotConnected wrapping fs.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), sock) {
		t.Errorf("Dial error %q does not name the endpoint", err)
	}
}

func TestDialOptions(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	ctx, cancel := ctxT()
	defer cancel()
	tests := []struct {
		name string
		opts client.Options
		msg  string
	}{
		{"no name", client.Options{Endpoint: tb.sock}, "Name is required"},
		{"bad wire", client.Options{Endpoint: tb.sock, Name: "x", Wire: wire.Config{MaxFrameSize: 10}}, "max frame size"},
	}
	for _, tt := range tests {
		c, err := client.Dial(ctx, tt.opts)
		if err == nil {
			c.Close()
			t.Errorf("%s: Dial succeeded", tt.name)
			continue
		}
		if !strings.Contains(err.Error(), tt.msg) || errors.Is(err, client.ErrNotConnected) {
			t.Errorf("%s: Dial: %v; want an options error saying %q", tt.name, err, tt.msg)
		}
	}
	if s := tb.Stats().Accepted; s != 0 {
		t.Errorf("invalid options still connected %d times", s)
	}

	// A name the broker refuses: its reason comes back as a BrokerError.
	_, err := client.Dial(ctx, options(tb.sock, "proc mond"))
	var be *client.BrokerError
	if !errors.As(err, &be) || be.Code != pb.ErrorCode_ERROR_CODE_BAD_HELLO || !errors.Is(err, client.ErrRefused) {
		t.Errorf("Dial with a bad name: %v; want a BAD_HELLO BrokerError", err)
	}

	// The default instance id passes the broker's rules.
	c := dial(t, options(tb.sock, "procmond"))
	ids := tb.Sessions()
	if len(ids) != 1 || ids[0].InstanceID == "" || ids[0].SessionID != c.SessionID() {
		t.Errorf("broker sees sessions %+v", ids)
	}
}

func TestDialHandshakeTimeout(t *testing.T) {
	fb := startFakeBroker(t, nil) // reads the hello, never answers
	opts := options(fb.sock, "procmond")
	opts.ConnectTimeout = 200 * time.Millisecond
	var err error
	within(t, "Dial", func() { _, err = client.Dial(context.Background(), opts) })
	if !errors.Is(err, client.ErrNotConnected) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Dial: %v; want ErrNotConnected and DeadlineExceeded", err)
	}
}

func TestReplyTimeout(t *testing.T) {
	fb := startFakeBroker(t, fakeWelcome)
	opts := options(fb.sock, "procmond")
	opts.ReplyTimeout = 200 * time.Millisecond
	c := dial(t, opts)
	fc := fb.accepted(t)
	if fc.hello.ClientName != "procmond" || fc.hello.ProtocolVersion != wire.ProtocolVersion {
		t.Errorf("hello %v", fc.hello)
	}

	var err error
	within(t, "Subscribe", func() { _, err = c.Subscribe("events.#", func(*client.Message) {}) })
	if !errors.Is(err, client.ErrNoReply) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Subscribe: %v; want ErrNoReply", err)
	}
	if subs := c.Subscriptions(); len(subs) != 0 {
		t.Errorf("Subscriptions() = %v after an unanswered Subscribe", subs)
	}
	// The broker may still grant it late, so the client cancels it there.
	sub, err := fc.read()
	if err != nil || sub.GetSubscribe().GetFilter() != "events.#" {
		t.Fatalf("fake broker read %v, %v; want the Subscribe", sub, err)
	}
	unsub, err := fc.read()
	if err != nil || unsub.GetUnsubscribe().GetSubscriptionId() != sub.GetSubscribe().GetSubscriptionId() {
		t.Fatalf("fake broker read %v, %v; want the Unsubscribe of subscription %d", unsub, err, sub.GetSubscribe().GetSubscriptionId())
	}

	within(t, "PublishConfirmed", func() { _, err = c.PublishConfirmed(context.Background(), "events.x", nil) })
	if !errors.Is(err, client.ErrNoReply) {
		t.Errorf("PublishConfirmed: %v; want ErrNoReply", err)
	}
	within(t, "ListSubscriptions", func() { _, err = c.ListSubscriptions(context.Background(), false) })
	if !errors.Is(err, client.ErrNoReply) {
		t.Errorf("ListSubscriptions: %v; want ErrNoReply", err)
	}
	// A shorter context wins over ReplyTimeout.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.SubscribeContext(ctx, "a.b", func(*client.Message) {}); !errors.Is(err, context.Canceled) {
		t.Errorf("SubscribeContext with a cancelled context: %v", err)
	}
	if err := c.Err(); err != nil {
		t.Errorf("unanswered requests ended the connection: %v", err)
	}
}

func TestValidationBeforeSending(t *testing.T) {
	tb := startBroker(t, broker.Config{Wire: wire.Config{MaxFrameSize: 64 << 10}})
	c := dial(t, options(tb.sock, "procmond"))
	in := make(inbox, 16)
	if _, err := c.Subscribe("events.big", in.handler); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := ctxT()
	defer cancel()

	for _, name := range []string{"events.+", "events.#", "", "events..x", "a b", strings.Repeat("x", 300)} {
		if err := c.Publish(ctx, name, nil); !errors.Is(err, client.ErrBadTopic) {
			t.Errorf("Publish(%q): %v; want ErrBadTopic", name, err)
		}
		if _, err := c.PublishConfirmed(ctx, name, nil); !errors.Is(err, client.ErrBadTopic) {
			t.Errorf("PublishConfirmed(%q): %v; want ErrBadTopic", name, err)
		}
	}
	for _, filter := range []string{"events.#.x", "ev#", "", "a..b", "+x"} {
		if _, err := c.Subscribe(filter, in.handler); !errors.Is(err, client.ErrBadFilter) {
			t.Errorf("Subscribe(%q): %v; want ErrBadFilter", filter, err)
		}
	}
	if _, err := c.Subscribe("events.#", nil); err == nil {
		t.Error("Subscribe with a nil handler succeeded")
	}

	// The broker's 64 KiB limit wins over the client's default 1 MiB.
	if got := c.Welcome().MaxFrameSize; got != 64<<10 {
		t.Fatalf("Welcome max frame size %d", got)
	}
	big := make([]byte, 64<<10)
	if err := c.Publish(ctx, "events.big", big); !errors.Is(err, client.ErrFrameTooLarge) {
		t.Errorf("Publish of %d bytes: %v; want ErrFrameTooLarge", len(big), err)
	}
	if _, err := c.PublishConfirmed(ctx, "events.big", big); !errors.Is(err, client.ErrFrameTooLarge) {
		t.Errorf("PublishConfirmed of %d bytes: %v; want ErrFrameTooLarge", len(big), err)
	}

	// Nothing of that reached the broker, and the connection is usable.
	st := tb.Stats()
	if st.Published != 0 || st.BadPublishes != 0 || st.ProtocolErrors != 0 {
		t.Errorf("broker saw %d publishes, %d bad, %d protocol errors; want none", st.Published, st.BadPublishes, st.ProtocolErrors)
	}
	ok := make([]byte, 60<<10)
	ok[0] = 7
	if n, err := c.PublishConfirmed(ctx, "events.big", ok); err != nil || n != 1 {
		t.Fatalf("PublishConfirmed of %d bytes: %d, %v", len(ok), n, err)
	}
	if m := in.next(t); !bytes.Equal(m.Payload, ok) {
		t.Errorf("received %d bytes, want the %d published", len(m.Payload), len(ok))
	}
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}

	// A client limit below the broker's wins too.
	opts := options(tb.sock, "small")
	opts.Wire.MaxFrameSize = wire.MinMaxFrameSize
	small := dial(t, opts)
	if err := small.Publish(ctx, "events.big", make([]byte, wire.MinMaxFrameSize)); !errors.Is(err, client.ErrFrameTooLarge) {
		t.Errorf("Publish above the client's own limit: %v; want ErrFrameTooLarge", err)
	}
}

func TestSubscriptions(t *testing.T) {
	tb := startBroker(t, broker.Config{MaxSubscriptions: 2})
	c := dial(t, options(tb.sock, "agent"))
	in := make(inbox, 16)
	a, err := c.Subscribe("a.#", in.handler)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Subscribe("b.+", in.handler)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Subscribe("c", in.handler)
	var be *client.BrokerError
	if !errors.As(err, &be) || be.Code != pb.ErrorCode_ERROR_CODE_LIMIT_EXCEEDED || be.Topic != "c" || !errors.Is(err, client.ErrRefused) {
		t.Fatalf("third Subscribe: %v; want a LIMIT_EXCEEDED refusal naming the filter", err)
	}
	want := []client.SubscriptionInfo{{ID: a.ID(), Filter: "a.#"}, {ID: b.ID(), Filter: "b.+"}}
	if got := c.Subscriptions(); !slices.Equal(got, want) {
		t.Errorf("Subscriptions() = %v, want %v", got, want)
	}
	if a.Filter() != "a.#" || a.ID() == 0 || a.ID() == b.ID() {
		t.Errorf("subscription a: id %d filter %q; b: id %d", a.ID(), a.Filter(), b.ID())
	}

	if err := a.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if err := c.Unsubscribe(a); err != nil {
		t.Errorf("second Unsubscribe: %v", err)
	}
	if got := c.Subscriptions(); !slices.Equal(got, want[1:]) {
		t.Errorf("after Unsubscribe: %v, want %v", got, want[1:])
	}
	// The broker processed the Unsubscribe: its slot is free again, and
	// a.# gets nothing.
	d, err := c.Subscribe("d", in.handler)
	if err != nil {
		t.Fatalf("Subscribe after freeing a slot: %v", err)
	}
	ctx, cancel := ctxT()
	defer cancel()
	if n, err := c.PublishConfirmed(ctx, "a.x", nil); err != nil || n != 0 {
		t.Errorf("publish to a.x after Unsubscribe: %d, %v", n, err)
	}
	if n, err := c.PublishConfirmed(ctx, "d", []byte("d")); err != nil || n != 1 {
		t.Errorf("publish to d: %d, %v", n, err)
	}
	if m := in.next(t); m.Topic != "d" || !slices.Equal(m.SubscriptionIDs, []uint32{d.ID()}) {
		t.Errorf("got %q for %v", m.Topic, m.SubscriptionIDs)
	}
	if len(in) != 0 {
		t.Errorf("unexpected message %q", (<-in).Topic)
	}
}

// TestBrokerShutdown covers a client without reconnection: it ends with
// its connection.
func TestBrokerShutdown(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	opts := options(tb.sock, "procmond")
	opts.Reconnect.Disabled = true
	c := dial(t, opts)
	sub, err := c.Subscribe("events.#", func(*client.Message) {})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := ctxT()
	defer cancel()
	if err := tb.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(waitTimeout):
		t.Fatal("Done not closed after the broker shut down")
	}
	if err := c.Err(); !errors.Is(err, client.ErrNotConnected) || !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("Err() = %v; want ErrNotConnected saying the broker is shutting down", err)
	}
	ops := []struct {
		name string
		do   func() error
	}{
		{"Publish", func() error { return c.Publish(ctx, "events.x", []byte("lost")) }},
		{"PublishConfirmed", func() error { _, err := c.PublishConfirmed(ctx, "events.x", nil); return err }},
		{"Subscribe", func() error { _, err := c.Subscribe("events.y", func(*client.Message) {}); return err }},
		{"ListSubscriptions", func() error { _, err := c.ListSubscriptions(ctx, false); return err }},
	}
	check := func(want error) {
		t.Helper()
		for _, op := range ops {
			var err error
			within(t, op.name, func() { err = op.do() })
			if !errors.Is(err, want) {
				t.Errorf("%s: %v; want %v", op.name, err, want)
			}
		}
	}
	check(client.ErrNotConnected)
	if err := sub.Unsubscribe(); !errors.Is(err, client.ErrNotConnected) {
		t.Errorf("Unsubscribe: %v; want ErrNotConnected", err)
	}

	within(t, "Close", func() { c.Close() })
	within(t, "second Close", func() { c.Close() })
	if err := c.Err(); !errors.Is(err, client.ErrClosed) || !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("Err() after Close = %v; want ErrClosed, still saying why the connection ended", err)
	}
	check(client.ErrClosed)
}

func TestClose(t *testing.T) {
	const n = 500
	tb := startBroker(t, broker.Config{})
	sub := dial(t, options(tb.sock, "agent"))
	in := make(inbox, n+1)
	if _, err := sub.Subscribe("events.#", in.handler); err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(context.Background(), options(tb.sock, "procmond"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Subscribe("x", func(*client.Message) {})
	if err != nil {
		t.Fatal(err)
	}
	// Close flushes what Publish queued.
	ctx, cancel := ctxT()
	defer cancel()
	for i := range n {
		if err := c.Publish(ctx, "events.x", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	within(t, "Close", func() { c.Close() })
	for i := range n {
		if m := in.next(t); m.Payload[0] != byte(i) {
			t.Fatalf("message %d carries %d", i, m.Payload[0])
		}
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done not closed after Close")
	}
	if err := c.Err(); err != client.ErrClosed {
		t.Errorf("Err() = %v, want ErrClosed", err)
	}
	within(t, "second Close", func() { c.Close() })
	if err := c.Publish(ctx, "events.x", nil); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Publish after Close: %v", err)
	}
	if _, err := c.PublishConfirmed(ctx, "events.x", nil); !errors.Is(err, client.ErrClosed) {
		t.Errorf("PublishConfirmed after Close: %v", err)
	}
	if _, err := c.Subscribe("events.#", func(*client.Message) {}); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Subscribe after Close: %v", err)
	}
	if _, err := c.ListSubscriptions(ctx, false); !errors.Is(err, client.ErrClosed) {
		t.Errorf("ListSubscriptions after Close: %v", err)
	}
	if err := s.Unsubscribe(); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Unsubscribe after Close: %v", err)
	}
	// The broker forgot the session and its subscription.
	eventually(t, "session removed", func() bool {
		st := tb.Stats()
		return st.Sessions == 1 && st.Subscriptions == 1
	})
}

func TestPublishBlocksWhenPendingFull(t *testing.T) {
	fb := startFakeBroker(t, fakeWelcome)
	opts := options(fb.sock, "procmond")
	opts.MaxPendingBytes = 4 << 10
	opts.WriteTimeout = time.Minute // the stalled write must not end the connection first
	opts.Reconnect.Disabled = true
	c := dial(t, opts)
	fc := fb.accepted(t) // and never read again
	payload := make([]byte, 1<<10)
	var err error
	published := 0
	for ; published < 100_000; published++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err = c.Publish(ctx, "events.x", payload)
		cancel()
		if err != nil {
			break
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "outbound buffer full") {
		t.Fatalf("after %d publishes: %v; want the context's DeadlineExceeded", published, err)
	}
	t.Logf("Publish blocked after %d KiB", published)
	if err := c.Err(); err != nil {
		t.Errorf("a full buffer ended the connection: %v", err)
	}
	// Once the peer goes away, a blocked Publish returns, and Close does too.
	errc := make(chan error, 1)
	go func() { errc <- c.Publish(context.Background(), "events.x", payload) }()
	fc.conn.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, client.ErrNotConnected) {
			t.Errorf("blocked Publish returned %v; want ErrNotConnected", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Publish stays blocked after the connection ended")
	}
	within(t, "Close", func() { c.Close() })
}

func TestMessageMetadata(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	sub := dial(t, options(tb.sock, "agent"))
	in := make(inbox, 4)
	s, err := sub.Subscribe("events.process.+", in.handler)
	if err != nil {
		t.Fatal(err)
	}
	popts := options(tb.sock, "procmond")
	popts.InstanceID = "host-a-4242"
	pub := dial(t, popts)
	corr := &pb.Correlation{
		CorrelationId: "corr-1", ParentId: "parent-2", RootId: "root-3",
		Sequence: 42, WorkflowStage: "enrich",
		Tags: map[string]string{"host": "a", "severity": "high", "empty": ""},
	}
	ctx, cancel := ctxT()
	defer cancel()
	before := time.Now()
	if _, err := pub.PublishConfirmed(ctx, "events.process.start", []byte("pid=1"), client.WithCorrelation(corr)); err != nil {
		t.Fatal(err)
	}
	m := in.next(t)
	if m.Topic != "events.process.start" || string(m.Payload) != "pid=1" {
		t.Errorf("got %q %q", m.Topic, m.Payload)
	}
	if !proto.Equal(m.Correlation, corr) {
		t.Errorf("Correlation = %v, want %v", m.Correlation, corr)
	}
	want := client.Publisher{ClientName: "procmond", InstanceID: "host-a-4242", SessionID: pub.SessionID()}
	if m.Publisher != want {
		t.Errorf("Publisher = %+v, want %+v", m.Publisher, want)
	}
	if !slices.Equal(m.SubscriptionIDs, []uint32{s.ID()}) || m.Dropped != 0 {
		t.Errorf("SubscriptionIDs %v, Dropped %d", m.SubscriptionIDs, m.Dropped)
	}
	if m.Time.Before(before.Add(-time.Second)) || m.Time.After(time.Now().Add(time.Second)) {
		t.Errorf("Time = %v, not around the publish at %v", m.Time, before)
	}

	// Without correlation, Correlation is nil.
	if err := pub.Publish(ctx, "events.process.stop", nil); err != nil {
		t.Fatal(err)
	}
	if m := in.next(t); m.Correlation != nil || len(m.Payload) != 0 {
		t.Errorf("plain publish delivered with correlation %v and payload %q", m.Correlation, m.Payload)
	}
}

// Events from two publishers, interleaved, each carry their own
// publisher: the reader's cache of the last publisher follows every change.
func TestInterleavedPublishers(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	sub := dial(t, options(tb.sock, "agent"))
	in := make(inbox, 16)
	if _, err := sub.Subscribe("events.#", in.handler); err != nil {
		t.Fatal(err)
	}
	instances := []string{"host-a", "host-b"}
	var pubs [2]*client.Client
	for i, instance := range instances {
		o := options(tb.sock, "procmond")
		o.InstanceID = instance
		pubs[i] = dial(t, o)
	}
	ctx, cancel := ctxT()
	defer cancel()
	// Repeats, and changes both ways, each followed by a repeat: from a
	// decoded publisher, and from one the cache already held.
	for _, i := range []int{0, 0, 1, 1, 0, 0, 1, 1} {
		if _, err := pubs[i].PublishConfirmed(ctx, "events.x", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		m := in.next(t)
		want := client.Publisher{ClientName: "procmond", InstanceID: instances[i], SessionID: pubs[i].SessionID()}
		if m.Publisher != want {
			t.Fatalf("event from publisher %d delivered as from %+v, want %+v", i, m.Publisher, want)
		}
	}
}

func TestOnError(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	errs := make(chan error, 4)
	opts := options(tb.sock, "procmond")
	opts.OnError = func(err error) { errs <- err }
	c := dial(t, opts)
	ctx, cancel := ctxT()
	defer cancel()
	// A refused Publish without confirmation is reported asynchronously.
	if err := c.Publish(ctx, "$SYS.forged", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		var be *client.BrokerError
		if !errors.As(err, &be) || be.Code != pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED || be.Topic != "$SYS.forged" || be.Fatal {
			t.Errorf("OnError got %v; want a non-fatal NOT_AUTHORIZED naming the topic", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("OnError not called")
	}
	if _, err := c.PublishConfirmed(ctx, "events.ok", nil); err != nil {
		t.Fatalf("connection unusable after the refusal: %v", err)
	}
}
