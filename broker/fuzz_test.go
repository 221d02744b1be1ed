package broker_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/client"
	"github.com/daemoneye/eventbus/wire"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

const (
	// fuzzMaxFrame is the fuzzed broker's frame limit: the smallest allowed,
	// so that a short input can make any answer the broker builds from the
	// client's data outgrow it.
	fuzzMaxFrame = wire.MinMaxFrameSize
	// fuzzDeadline bounds how long the broker may take to close a fuzzed
	// connection once it has the whole input.
	fuzzDeadline = 2 * time.Second
)

// FuzzSession sends arbitrary bytes to the broker as a client would after
// connecting, handshake included, then closes its sending side and reads
// every answer. The broker must answer only with well-formed frames within
// the agreed frame limit, nothing after a fatal error, close the connection
// within fuzzDeadline, and keep serving a healthy publisher and subscriber.
// A panic in the broker crashes the fuzzing process, which reports it.
//
// The fuzzer cannot guess CRC-32s, so each input is sent a second time with
// the checksums of its frames recomputed (when that changes anything): the
// mutated messages then reach the session state machine instead of stopping
// at the checksum.
//
// The seed corpus is sessionSeeds, committed in testdata/fuzz/FuzzSession
// (TestFuzzSessionCorpus keeps the two in step).
func FuzzSession(f *testing.F) {
	for _, s := range sessionSeeds(f) {
		f.Add(s.data)
	}
	tb := startBroker(f, broker.Config{
		Wire:             wire.Config{MaxFrameSize: fuzzMaxFrame},
		HandshakeTimeout: 500 * time.Millisecond,
		IdleTimeout:      500 * time.Millisecond,
	})
	pair := newFuzzPair(f, tb.sock)
	baseSubs := tb.Stats().Subscriptions

	f.Fuzz(func(t *testing.T, data []byte) {
		runFuzzSession(t, tb, data)
		if fixed := withValidChecksums(data); !bytes.Equal(fixed, data) {
			runFuzzSession(t, tb, fixed)
		}
		pair.check(t)
		eventually(t, "the fuzzed sessions gone with their subscriptions", func() bool {
			st := tb.Stats()
			return st.Sessions == 2 && st.Subscriptions == baseSubs
		})
	})
}

// runFuzzSession sends input on a new connection and checks the answers.
func runFuzzSession(t *testing.T, tb *testBroker, input []byte) {
	t.Helper()
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: tb.sock, Net: "unix"})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	unread := tb.Stats().PendingRepliesLimit

	// Answers are read while the input is written, as a client that reads
	// its replies would.
	if err := conn.SetReadDeadline(time.Now().Add(2 * fuzzDeadline)); err != nil {
		t.Fatal(err)
	}
	written := make(chan struct{})
	go func() {
		defer close(written)
		_ = conn.SetWriteDeadline(time.Now().Add(fuzzDeadline))
		_, _ = conn.Write(input) // the broker may close first
		_ = conn.CloseWrite()
		// The broker has the whole input, or has stopped reading it.
		_ = conn.SetReadDeadline(time.Now().Add(fuzzDeadline))
	}()
	out, err := io.ReadAll(conn)
	<-written
	switch {
	case err == nil, errors.Is(err, syscall.ECONNRESET): // closed, with or without input left unread
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatalf("the broker did not close the connection within %v of the end of the input (%d bytes in, %d bytes answered)", fuzzDeadline, len(input), len(out))
	default:
		t.Fatalf("reading the answers: %v", err)
	}
	// A session closed for not reading its replies may be cut off inside a
	// frame. Reading at once, the harness should never be that slow.
	cut := tb.Stats().PendingRepliesLimit != unread
	checkAnswers(t, out, cut)
}

// checkAnswers parses everything the broker sent on one connection.
func checkAnswers(t *testing.T, out []byte, mayBeCut bool) {
	t.Helper()
	crc := wire.CRCIEEE
	rd := wire.NewReader(bytes.NewReader(out), wire.Config{CRC: crc, MaxFrameSize: fuzzMaxFrame})
	var fatal *pb.Error
	for i := 0; ; i++ {
		msg, err := rd.ReadFrame()
		if err == io.EOF {
			return
		}
		var ve *wire.CRCVariantError
		if i == 0 && crc == wire.CRCIEEE && errors.As(err, &ve) {
			// A first frame with the other variant is answered in it, so
			// that the client can read why it is refused.
			crc = ve.Peer
			rd = wire.NewReader(bytes.NewReader(out), wire.Config{CRC: crc, MaxFrameSize: fuzzMaxFrame})
			i--
			continue
		}
		if err != nil {
			if mayBeCut && errors.Is(err, wire.ErrTruncated) {
				return
			}
			t.Fatalf("answer %d of the broker: %v", i, err)
		}
		env := new(pb.Envelope)
		if err := wire.DecodeEnvelope(msg, env); err != nil {
			t.Fatalf("answer %d of the broker: %v", i, err)
		}
		if fatal != nil {
			t.Fatalf("answer %d (%v) after the fatal error %v", i, env, fatal)
		}
		switch e := env.GetError(); {
		case i == 0 && env.GetWelcome() == nil && e == nil:
			t.Fatalf("first answer %v, want a Welcome or an Error", env)
		case i > 0 && env.GetWelcome() != nil:
			t.Fatalf("answer %d is a second Welcome", i)
		case crc != wire.CRCIEEE && (e == nil || e.Code != pb.ErrorCode_ERROR_CODE_CRC_VARIANT || !e.Fatal):
			t.Fatalf("answer %d in %v is %v, want only the fatal CRC_VARIANT error", i, crc, env)
		case e != nil && e.Fatal:
			fatal = e
		}
	}
}

// withValidChecksums returns a copy of data in which each frame, from the
// start up to the first one the broker refuses by its header alone or that
// is incomplete, carries the right IEEE checksum.
func withValidChecksums(data []byte) []byte {
	out := bytes.Clone(data)
	for rest := out; len(rest) >= wire.HeaderSize; {
		n := binary.LittleEndian.Uint32(rest)
		if n == 0 || n > fuzzMaxFrame || uint64(len(rest)-wire.HeaderSize) < uint64(n) {
			break
		}
		body := rest[wire.HeaderSize : wire.HeaderSize+int(n)]
		binary.LittleEndian.PutUint32(rest[4:], wire.CRCIEEE.Checksum(body))
		rest = rest[wire.HeaderSize+int(n):]
	}
	return out
}

// fuzzPair is a healthy publisher and subscriber that exchange one message
// after every fuzzed session.
type fuzzPair struct {
	sock  string
	topic string // unguessable, so no fuzzed session publishes there
	pub   *client.Client
	sub   *client.Client
	in    chan *client.Message
	seq   uint64
	// The sessions dialled: a client that reconnected by itself has another.
	pubID, subID uint64
}

func newFuzzPair(f *testing.F, sock string) *fuzzPair {
	f.Helper()
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		f.Fatal(err)
	}
	p := &fuzzPair{sock: sock, topic: "healthy." + hex.EncodeToString(r[:])}
	if err := p.dial(); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(p.close)
	return p
}

func (p *fuzzPair) dial() error {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	pub, err := client.Dial(ctx, client.Options{Endpoint: p.sock, Name: "healthy-pub", Logger: quiet})
	if err != nil {
		return fmt.Errorf("dial the healthy publisher: %w", err)
	}
	sub, err := client.Dial(ctx, client.Options{Endpoint: p.sock, Name: "healthy-sub", Logger: quiet})
	if err != nil {
		pub.Close()
		return fmt.Errorf("dial the healthy subscriber: %w", err)
	}
	in := make(chan *client.Message, 16)
	if _, err := sub.SubscribeContext(ctx, p.topic, func(m *client.Message) {
		select {
		case in <- m:
		default: // only one message is ever in flight; exchange notices a loss
		}
	}); err != nil {
		pub.Close()
		sub.Close()
		return fmt.Errorf("healthy subscriber: %w", err)
	}
	p.pub, p.sub, p.in, p.seq = pub, sub, in, 0
	p.pubID, p.subID = pub.SessionID(), sub.SessionID()
	return nil
}

func (p *fuzzPair) close() {
	p.pub.Close()
	p.sub.Close()
}

// check exchanges a message. Every fuzzed client may make admin requests
// under the open test policy, so an input may have disconnected the pair on
// purpose: then the pair is dialled anew. Any other failure fails the test.
func (p *fuzzPair) check(t *testing.T) {
	t.Helper()
	err := p.exchange()
	if err == nil {
		return
	}
	if !p.disconnectedByAdmin() {
		t.Fatalf("healthy pair after the fuzzed session: %v", err)
	}
	p.close()
	if err := p.dial(); err != nil {
		t.Fatal(err)
	}
	if err := p.exchange(); err != nil {
		t.Fatalf("healthy pair, dialled again after an admin disconnected it: %v", err)
	}
}

// exchange publishes the next message, confirmed, and waits for it.
func (p *fuzzPair) exchange() error {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	n, err := p.pub.PublishConfirmed(ctx, p.topic, seqPayload(p.seq, 8))
	if err != nil {
		return fmt.Errorf("publish %d: %w", p.seq, err)
	}
	if n != 1 {
		return fmt.Errorf("publish %d reached %d receivers, want 1", p.seq, n)
	}
	select {
	case m := <-p.in:
		if s := seqOf(m.Payload); s != p.seq || m.Dropped != 0 || m.Publisher.SessionID != p.pub.SessionID() {
			return fmt.Errorf("healthy subscriber got seq %d (dropped %d) from session %d, want %d from session %d",
				s, m.Dropped, m.Publisher.SessionID, p.seq, p.pub.SessionID())
		}
	case <-p.sub.Done():
		return fmt.Errorf("healthy subscriber disconnected: %w", p.sub.Err())
	case <-ctx.Done():
		return fmt.Errorf("message %d never reached the healthy subscriber", p.seq)
	}
	p.seq++
	if p.pub.SessionID() != p.pubID || p.sub.SessionID() != p.subID {
		return fmt.Errorf("healthy sessions %d and %d ended: the clients are now sessions %d and %d",
			p.pubID, p.subID, p.pub.SessionID(), p.sub.SessionID())
	}
	return nil
}

// disconnectedByAdmin reports whether the pair lost a client to an admin's
// DisconnectSession, and to nothing else.
func (p *fuzzPair) disconnectedByAdmin() bool {
	select {
	case <-p.pub.Done():
	case <-p.sub.Done():
	case <-time.After(waitTimeout):
		return false
	}
	for _, c := range []*client.Client{p.pub, p.sub} {
		select {
		case <-c.Done():
			var be *client.BrokerError
			if !errors.As(c.Err(), &be) || be.Code != pb.ErrorCode_ERROR_CODE_DISCONNECTED {
				return false
			}
		default:
		}
	}
	return true
}

// sessionSeed is one input of the seed corpus.
type sessionSeed struct {
	name string // its file name in testdata/fuzz/FuzzSession
	data []byte
}

// sessionSeeds returns the seed corpus: complete sessions, so that the
// fuzzer starts from the established state, and one of each bad start.
func sessionSeeds(tb testing.TB) []sessionSeed {
	frames := func(envs ...*pb.Envelope) []byte {
		var b []byte
		for _, env := range envs {
			var err error
			if b, err = wire.CRCIEEE.AppendEnvelope(b, env); err != nil {
				tb.Fatal(err)
			}
		}
		return b
	}
	hello := helloEnv("fuzz", wire.ProtocolVersion)
	list := func(all bool, id uint64) *pb.Envelope {
		return &pb.Envelope{Kind: &pb.Envelope_ListSubscriptions{ListSubscriptions: &pb.ListSubscriptions{AllSessions: all, RequestId: id}}}
	}
	badCRC := frames(hello)
	badCRC[4] ^= 0x5a
	// Fixed garbage, so the committed file stays the same.
	garbage := make([]byte, 256)
	rng := mrand.NewChaCha8([32]byte{'e', 'v', 'e', 'n', 't', 'b', 'u', 's'})
	_, _ = rng.Read(garbage)

	return []sessionSeed{
		{"hello", frames(hello)},
		{"hello-subscribe-publish-ping", frames(hello,
			subscribeEnv(1, "fuzz.#"),
			publishEnv("fuzz.x", []byte("hi"), 1),
			pingEnv(7))},
		{"hello-lists-unsubscribe", frames(hello,
			subscribeEnv(1, "fuzz.+.x"),
			subscribeEnv(2, "#"),
			list(false, 3),
			list(true, 4),
			&pb.Envelope{Kind: &pb.Envelope_Unsubscribe{Unsubscribe: &pb.Unsubscribe{SubscriptionId: 1}}},
			publishEnv("fuzz.a.x", nil, 0),
			&pb.Envelope{Kind: &pb.Envelope_Pong{Pong: &pb.Pong{Nonce: 8}}})},
		{"hello-refusals", frames(hello,
			subscribeEnv(0, "fuzz.#"),
			subscribeEnv(1, "fuzz..x"),
			publishEnv("fuzz.#", []byte("x"), 2),
			publishEnv("$SYS.x", []byte("x"), 3),
			&pb.Envelope{Kind: &pb.Envelope_DisconnectSession{DisconnectSession: &pb.DisconnectSession{RequestId: 4, SessionId: 1 << 40, Reason: "fuzz"}}},
			&pb.Envelope{Kind: &pb.Envelope_Error{Error: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_INTERNAL, Message: "client-side trouble"}}})},
		{"second-hello", frames(hello, hello)},
		{"publish-before-hello", frames(publishEnv("fuzz.x", []byte("hi"), 1))},
		{"truncated-after-hello", append(frames(hello), frames(pingEnv(9))[:7]...)},
		{"zero-length", frameHeader(0, 0)},
		{"4gib-length", append(frames(hello), frameHeader(0xFFFFFFFF, 0)...)},
		{"bad-crc", badCRC},
		{"garbage", garbage},
	}
}

var updateCorpus = flag.Bool("update-fuzz-corpus", false, "rewrite testdata/fuzz/FuzzSession from sessionSeeds")

// TestFuzzSessionCorpus checks that the committed seed corpus is
// sessionSeeds; -update-fuzz-corpus rewrites it.
func TestFuzzSessionCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzSession")
	for _, s := range sessionSeeds(t) {
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s.data)
		path := filepath.Join(dir, s.name)
		if *updateCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("seed %s: %v (go test -run TestFuzzSessionCorpus -update-fuzz-corpus ./broker/ writes it)", s.name, err)
			continue
		}
		if string(got) != want {
			t.Errorf("%s differs from seed %s; go test -run TestFuzzSessionCorpus -update-fuzz-corpus ./broker/ rewrites it", path, s.name)
		}
	}
}
