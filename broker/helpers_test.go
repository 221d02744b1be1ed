package broker_test

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/client"
	"github.com/daemoneye/eventbus/internal/testpolicy"
	"github.com/daemoneye/eventbus/transport"
	"github.com/daemoneye/eventbus/wire"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// waitTimeout bounds every wait on the broker: far above what any step
// needs, it only turns a hang into a failure.
const waitTimeout = 10 * time.Second

var quiet = slog.New(slog.DiscardHandler)

// testBroker is a broker serving a fresh Unix socket.
type testBroker struct {
	*broker.Broker
	sock   string
	served chan struct{} // closed when Serve has returned
	err    error         // what Serve returned, valid once served is closed
}

// shortTempDir returns a fresh directory short enough for a socket path;
// t.TempDir can exceed the 108-byte limit.
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "eb-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startBroker starts a broker with cfg on a new socket; it is closed when the
// test ends.
func startBroker(t testing.TB, cfg broker.Config) *testBroker {
	t.Helper()
	dir := shortTempDir(t)
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	if cfg.Policy == nil {
		// These tests are about routing and the protocol; access control
		// has its own tests with real policies.
		cfg.Policy = testpolicy.Open()
	}
	b, err := broker.New(cfg)
	if err != nil {
		t.Fatalf("broker.New: %v", err)
	}
	sock := filepath.Join(dir, "bus.sock")
	ln, err := transport.Listen(sock, nil)
	if err != nil {
		t.Fatalf("transport.Listen: %v", err)
	}
	tb := &testBroker{Broker: b, sock: sock, served: make(chan struct{})}
	go func() {
		tb.err = b.Serve(ln)
		close(tb.served)
	}()
	t.Cleanup(func() {
		b.Close()
		select {
		case <-tb.served:
		case <-time.After(waitTimeout):
			t.Error("Serve did not return after Close")
		}
	})
	return tb
}

// eventually polls cond until it holds, failing the test after waitTimeout.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// dialClient connects a client.Client named name; it is closed when the test
// ends.
func dialClient(t testing.TB, sock, name string, tweak ...func(*client.Options)) *client.Client {
	t.Helper()
	opts := client.Options{Endpoint: sock, Name: name, Logger: quiet}
	for _, f := range tweak {
		f(&opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, opts)
	if err != nil {
		t.Fatalf("client.Dial %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// inbox collects the messages of client subscriptions.
type inbox struct {
	ch chan *client.Message
}

func newInbox(n int) *inbox { return &inbox{ch: make(chan *client.Message, n)} }

func (in *inbox) handler(m *client.Message) {
	select {
	case in.ch <- m:
	default:
		panic("test inbox overflow")
	}
}

// next returns the next message, failing the test after waitTimeout.
func (in *inbox) next(t testing.TB) *client.Message {
	t.Helper()
	select {
	case m := <-in.ch:
		return m
	case <-time.After(waitTimeout):
		t.Fatal("timed out waiting for a message")
		return nil
	}
}

// empty reports whether nothing more has arrived.
func (in *inbox) empty() bool { return len(in.ch) == 0 }

func subscribe(t testing.TB, c *client.Client, filter string, h client.Handler) *client.Subscription {
	t.Helper()
	sub, err := c.Subscribe(filter, h)
	if err != nil {
		t.Fatalf("Subscribe %q: %v", filter, err)
	}
	return sub
}

func publishConfirmed(t testing.TB, c *client.Client, name string, payload []byte, opts ...client.PublishOption) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	n, err := c.PublishConfirmed(ctx, name, payload, opts...)
	if err != nil {
		t.Fatalf("PublishConfirmed %q: %v", name, err)
	}
	return n
}

// seqPayload is a payload of size bytes (at least 8) starting with seq.
func seqPayload(seq uint64, size int) []byte {
	p := make([]byte, max(size, 8))
	binary.LittleEndian.PutUint64(p, seq)
	return p
}

func seqOf(p []byte) uint64 { return binary.LittleEndian.Uint64(p) }

// rawConn speaks the wire protocol by hand over a real socket.
type rawConn struct {
	t    testing.TB
	conn net.Conn
	rd   *wire.Reader
	crc  wire.CRC
	mu   sync.Mutex // guards writes from helper goroutines
}

func dialRaw(t testing.TB, sock string) *rawConn { return dialRawCRC(t, sock, wire.CRCIEEE) }

// dialRawCRC connects and frames with crc; the peer's frames are read with
// crc too.
func dialRawCRC(t testing.TB, sock string, crc wire.CRC) *rawConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	conn, err := transport.Dial(ctx, sock)
	if err != nil {
		t.Fatalf("transport.Dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawConn{t: t, conn: conn, rd: wire.NewReader(conn, wire.Config{CRC: crc}), crc: crc}
}

func (r *rawConn) write(b []byte) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.conn.SetWriteDeadline(time.Now().Add(waitTimeout)); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.conn.Write(b); err != nil {
		r.t.Fatalf("raw write: %v", err)
	}
}

func (r *rawConn) send(env *pb.Envelope) {
	r.t.Helper()
	frame, err := r.crc.AppendEnvelope(nil, env)
	if err != nil {
		r.t.Fatal(err)
	}
	r.write(frame)
}

// readEnv reads one envelope, or returns the read error.
func (r *rawConn) readEnv() (*pb.Envelope, error) {
	if err := r.conn.SetReadDeadline(time.Now().Add(waitTimeout)); err != nil {
		return nil, err
	}
	msg, err := r.rd.ReadFrame()
	if err != nil {
		return nil, err
	}
	env := new(pb.Envelope)
	if err := wire.DecodeEnvelope(msg, env); err != nil {
		return nil, err
	}
	return env, nil
}

func (r *rawConn) read() *pb.Envelope {
	r.t.Helper()
	env, err := r.readEnv()
	if err != nil {
		r.t.Fatalf("raw read: %v", err)
	}
	return env
}

// expectError reads the next frame, which must be an Error with code.
func (r *rawConn) expectError(code pb.ErrorCode) *pb.Error {
	r.t.Helper()
	env := r.read()
	e := env.GetError()
	if e == nil {
		r.t.Fatalf("got %v, want an Error %v", env, code)
	}
	if e.Code != code {
		r.t.Fatalf("got error %v (%q), want %v", e.Code, e.Message, code)
	}
	return e
}

// expectFatal reads an Error with code that closes the connection, and the
// end of the stream after it.
func (r *rawConn) expectFatal(code pb.ErrorCode) *pb.Error {
	r.t.Helper()
	e := r.expectError(code)
	if !e.Fatal {
		r.t.Errorf("error %v is not marked fatal", e)
	}
	r.expectEOF()
	return e
}

func (r *rawConn) expectEOF() {
	r.t.Helper()
	env, err := r.readEnv()
	if err != io.EOF {
		r.t.Fatalf("after the error: got %v, %v; want io.EOF", env, err)
	}
}

func helloEnv(name string, version uint32) *pb.Envelope {
	return &pb.Envelope{Kind: &pb.Envelope_Hello{Hello: &pb.Hello{
		ClientName: name, InstanceId: "test-1", ProtocolVersion: version, SoftwareVersion: "test",
	}}}
}

// hello runs the handshake and returns the Welcome.
func (r *rawConn) hello(name string) *pb.Welcome {
	r.t.Helper()
	r.send(helloEnv(name, wire.ProtocolVersion))
	env := r.read()
	w := env.GetWelcome()
	if w == nil {
		r.t.Fatalf("handshake answered with %v", env)
	}
	return w
}

func subscribeEnv(id uint32, filter string) *pb.Envelope {
	return &pb.Envelope{Kind: &pb.Envelope_Subscribe{Subscribe: &pb.Subscribe{SubscriptionId: id, Filter: filter}}}
}

func publishEnv(name string, payload []byte, id uint64) *pb.Envelope {
	return &pb.Envelope{Kind: &pb.Envelope_Publish{Publish: &pb.Publish{Topic: name, Payload: payload, PublishId: id}}}
}

func pingEnv(nonce uint64) *pb.Envelope {
	return &pb.Envelope{Kind: &pb.Envelope_Ping{Ping: &pb.Ping{Nonce: nonce}}}
}

// subscribe sends a Subscribe and returns the SubAck.
func (r *rawConn) subscribe(id uint32, filter string) *pb.SubAck {
	r.t.Helper()
	r.send(subscribeEnv(id, filter))
	env := r.read()
	ack := env.GetSubAck()
	if ack == nil {
		r.t.Fatalf("subscribe answered with %v", env)
	}
	if ack.SubscriptionId != id {
		r.t.Fatalf("SubAck for id %d, want %d", ack.SubscriptionId, id)
	}
	return ack
}

// mustSubscribe subscribes and fails unless granted.
func (r *rawConn) mustSubscribe(id uint32, filter string) {
	r.t.Helper()
	if ack := r.subscribe(id, filter); !ack.Granted {
		r.t.Fatalf("subscription %d %q refused: %v %s", id, filter, ack.Code, ack.Reason)
	}
}

// ping checks that the session is up: a Ping is answered with its Pong.
func (r *rawConn) ping(nonce uint64) {
	r.t.Helper()
	r.send(pingEnv(nonce))
	env := r.read()
	if env.GetPong().GetNonce() != nonce {
		r.t.Fatalf("ping %d answered with %v", nonce, env)
	}
}

// readDeliver reads the next frame, which must be a Deliver.
func (r *rawConn) readDeliver() (*pb.Deliver, *pb.DeliveryInfo) {
	r.t.Helper()
	env := r.read()
	d := env.GetDeliver()
	if d == nil {
		r.t.Fatalf("got %v, want a Deliver", env)
	}
	return d, env.Delivery
}

// frameHeader is a raw frame header.
func frameHeader(n, sum uint32) []byte {
	h := binary.LittleEndian.AppendUint32(nil, n)
	return binary.LittleEndian.AppendUint32(h, sum)
}
