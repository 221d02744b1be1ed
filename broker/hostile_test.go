package broker_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/acl"
	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/client"
	"github.com/daemoneye/eventbus/topic"
	"github.com/daemoneye/eventbus/wire"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// healthyPair is a publisher and a subscriber that exchange a numbered
// sequence in the background while a test abuses the broker.
type healthyPair struct {
	in    *inbox
	stop  chan struct{}
	done  chan struct{}
	sent  uint64 // valid after done
	err   error  // valid after done
	pub   *client.Client
	sub   *client.Client
	topic string
	// The sessions the pair started with: a client that reconnects gets
	// another.
	pubID, subID uint64
	// credit bounds how far the publisher runs ahead of what the test has
	// read: it takes a slot per message, the reader frees one. Without it a
	// fast publisher would fill the inbox, and then the broker's queue.
	credit chan struct{}
}

// maxAhead is how many messages the healthy publisher may have in flight.
const maxAhead = 4096

func startHealthyPair(t *testing.T, sock string) *healthyPair {
	t.Helper()
	return startHealthyPairAs(t, sock, "healthy-pub", "healthy-sub", "healthy.#", "healthy.seq")
}

// startHealthyPairAs starts a pair whose publisher claims pubName and
// publishes to topicName, and whose subscriber claims subName and subscribes
// to filter, for brokers with a real policy.
func startHealthyPairAs(t *testing.T, sock, pubName, subName, filter, topicName string) *healthyPair {
	t.Helper()
	h := &healthyPair{
		in:     newInbox(1 << 16),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		pub:    dialClient(t, sock, pubName),
		sub:    dialClient(t, sock, subName),
		topic:  topicName,
		credit: make(chan struct{}, maxAhead),
	}
	subscribe(t, h.sub, filter, h.in.handler)
	h.pubID, h.subID = h.pub.SessionID(), h.sub.SessionID()
	go func() {
		defer close(h.done)
		for seq := uint64(0); ; seq++ {
			select {
			case <-h.stop:
				return
			case h.credit <- struct{}{}:
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			n, err := h.pub.PublishConfirmed(ctx, h.topic, seqPayload(seq, 64))
			cancel()
			if err == nil && n != 1 {
				err = fmt.Errorf("publish %d reached %d receivers, want 1", seq, n)
			}
			if err != nil {
				h.err = err
				return
			}
			h.sent = seq + 1
		}
	}()
	t.Cleanup(h.halt)
	return h
}

func (h *healthyPair) halt() {
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	<-h.done
}

// progress waits until the subscriber has received at least one more
// message, and returns what it received meanwhile.
func (h *healthyPair) progress(t *testing.T, got *[]uint64) {
	t.Helper()
	before := len(*got)
	deadline := time.After(waitTimeout)
	for len(*got) == before {
		select {
		case m := <-h.in.ch:
			*got = append(*got, h.seqOf(t, m))
			<-h.credit
		case <-h.done:
			t.Fatalf("healthy publisher stopped after %d messages: %v", h.sent, h.err)
		case <-deadline:
			t.Fatal("healthy pair made no progress")
		}
	}
}

// seqOf returns the sequence number of m, which must come from the healthy
// publisher with nothing dropped before it.
func (h *healthyPair) seqOf(t *testing.T, m *client.Message) uint64 {
	t.Helper()
	if m.Dropped != 0 {
		t.Fatalf("healthy subscriber: %d messages dropped before %q", m.Dropped, m.Payload)
	}
	if m.Topic != h.topic || m.Publisher.SessionID != h.pub.SessionID() {
		t.Fatalf("healthy subscriber got %s from session %d (%s), want %s from session %d",
			m.Topic, m.Publisher.SessionID, m.Publisher.ClientName, h.topic, h.pub.SessionID())
	}
	return seqOf(m.Payload)
}

// finish stops the publisher and checks that the subscriber received exactly
// the sequence sent, in order.
func (h *healthyPair) finish(t *testing.T, got []uint64) {
	t.Helper()
	h.halt()
	if h.err != nil {
		t.Fatalf("healthy publisher failed after %d messages: %v", h.sent, h.err)
	}
	for uint64(len(got)) < h.sent {
		got = append(got, h.seqOf(t, h.in.next(t)))
	}
	for i, s := range got {
		if s != uint64(i) {
			t.Fatalf("healthy subscriber got %d at position %d: messages lost or reordered", s, i)
		}
	}
	if !h.in.empty() {
		t.Fatalf("healthy subscriber got more than the %d messages sent", h.sent)
	}
	for _, c := range []*client.Client{h.pub, h.sub} {
		if err := c.Err(); err != nil {
			t.Fatalf("healthy client disconnected: %v", err)
		}
	}
	if h.pub.SessionID() != h.pubID || h.sub.SessionID() != h.subID {
		t.Fatalf("healthy sessions %d and %d ended: the clients are now sessions %d and %d",
			h.pubID, h.subID, h.pub.SessionID(), h.sub.SessionID())
	}
	t.Logf("healthy pair exchanged %d messages", h.sent)
}

// validFrame frames env with crc.
func validFrame(t *testing.T, crc wire.CRC, env *pb.Envelope) []byte {
	t.Helper()
	f, err := crc.AppendEnvelope(nil, env)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestBadFramesDropOnlyTheirConnection(t *testing.T) {
	const maxFrame = 64 << 10
	tb := startBroker(t, broker.Config{Wire: wire.Config{MaxFrameSize: maxFrame}})
	h := startHealthyPair(t, tb.sock)

	badSum := func(env *pb.Envelope) []byte {
		f := validFrame(t, wire.CRCIEEE, env)
		f[4] ^= 0x5a
		return f
	}
	noKind := protowire.AppendVarint(protowire.AppendTag(nil, 1000, protowire.VarintType), 1)
	deliver := &pb.Envelope{Kind: &pb.Envelope_Deliver{Deliver: &pb.Deliver{Topic: "events.x"}}}

	tests := []struct {
		name      string
		handshake bool     // complete the handshake first
		crc       wire.CRC // the raw peer's variant
		bytes     []byte   // sent after the handshake, if any
		halfClose bool     // close the sending side afterwards
		code      pb.ErrorCode
		msg       string // in the error message
	}{
		{name: "zero length", handshake: true, bytes: frameHeader(0, 0),
			code: pb.ErrorCode_ERROR_CODE_BAD_FRAME, msg: "zero-length"},
		{name: "zero length first", bytes: frameHeader(0, 0),
			code: pb.ErrorCode_ERROR_CODE_BAD_FRAME, msg: "zero-length"},
		// Only the header is sent: a broker that waited for the body would
		// time out instead of answering.
		{name: "4 GiB length", handshake: true, bytes: frameHeader(0xFFFFFFFF, 0xFFFFFFFF),
			code: pb.ErrorCode_ERROR_CODE_FRAME_TOO_LARGE, msg: "4294967295 bytes announced"},
		{name: "4 GiB length first", bytes: frameHeader(0xFFFFFFFF, 0),
			code: pb.ErrorCode_ERROR_CODE_FRAME_TOO_LARGE, msg: "4294967295 bytes announced"},
		{name: "one over the max", handshake: true, bytes: frameHeader(maxFrame+1, 0x12345678),
			code: pb.ErrorCode_ERROR_CODE_FRAME_TOO_LARGE, msg: "65537 bytes announced, limit is 65536"},
		{name: "1 MiB", handshake: true, bytes: frameHeader(1<<20, 0x12345678),
			code: pb.ErrorCode_ERROR_CODE_FRAME_TOO_LARGE, msg: "limit is 65536"},
		{name: "bad checksum", handshake: true, bytes: badSum(pingEnv(1)),
			code: pb.ErrorCode_ERROR_CODE_BAD_FRAME, msg: "checksum mismatch"},
		{name: "bad checksum first", bytes: badSum(helloEnv("procmond", 1)),
			code: pb.ErrorCode_ERROR_CODE_BAD_FRAME, msg: "checksum mismatch"},
		{name: "truncated then closed", handshake: true, halfClose: true,
			bytes: append(frameHeader(100, 0), make([]byte, 10)...),
			code:  pb.ErrorCode_ERROR_CODE_BAD_FRAME, msg: "after 10 of 100 message bytes"},
		{name: "truncated header then closed", handshake: true, halfClose: true, bytes: frameHeader(100, 0)[:5],
			code: pb.ErrorCode_ERROR_CODE_BAD_FRAME, msg: "after 5 of 8 header bytes"},
		{name: "garbage protobuf", handshake: true, bytes: wire.CRCIEEE.AppendFrame(nil, []byte{0x0a, 0xff, 0xff, 0x01}),
			code: pb.ErrorCode_ERROR_CODE_BAD_FRAME, msg: "bad message"},
		{name: "garbage protobuf first", bytes: wire.CRCIEEE.AppendFrame(nil, []byte{0xff, 0xff, 0xff, 0xff}),
			code: pb.ErrorCode_ERROR_CODE_BAD_FRAME, msg: "bad message"},
		{name: "no known kind", handshake: true, bytes: wire.CRCIEEE.AppendFrame(nil, noKind),
			code: pb.ErrorCode_ERROR_CODE_BAD_FRAME, msg: "no known message kind"},
		{name: "broker-only kind", handshake: true, bytes: validFrame(t, wire.CRCIEEE, deliver),
			code: pb.ErrorCode_ERROR_CODE_UNEXPECTED_MESSAGE, msg: "clients do not send deliver"},
		{name: "castagnoli against ieee", crc: wire.CRCCastagnoli,
			bytes: validFrame(t, wire.CRCCastagnoli, helloEnv("procmond", 1)),
			code:  pb.ErrorCode_ERROR_CODE_CRC_VARIANT, msg: "peer uses castagnoli"},
		{name: "publish before hello", bytes: validFrame(t, wire.CRCIEEE, publishEnv("healthy.seq", []byte("x"), 0)),
			code: pb.ErrorCode_ERROR_CODE_UNEXPECTED_MESSAGE, msg: "expected hello"},
	}

	var got []uint64
	h.progress(t, &got)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tb.Stats().ProtocolErrors
			r := dialRawCRC(t, tb.sock, tt.crc)
			if tt.handshake {
				r.hello("hostile")
			}
			r.write(tt.bytes)
			if tt.halfClose {
				if err := r.conn.(*net.UnixConn).CloseWrite(); err != nil {
					t.Fatal(err)
				}
			}
			// The castagnoli peer reads the answer with its own variant: the
			// broker must answer in it.
			e := r.expectFatal(tt.code)
			if !strings.Contains(e.Message, tt.msg) {
				t.Errorf("error message %q does not say %q", e.Message, tt.msg)
			}
			if got := tb.Stats().ProtocolErrors; got != before+1 {
				t.Errorf("ProtocolErrors went from %d to %d, want one more", before, got)
			}
			eventually(t, "only the healthy sessions left", func() bool { return tb.Stats().Sessions == 2 })
		})
		// The healthy pair keeps going after each hostile connection.
		h.progress(t, &got)
	}
	h.finish(t, got)
	if s := tb.Stats().Subscriptions; s != 1 {
		t.Errorf("Stats().Subscriptions = %d, want the healthy subscriber's 1", s)
	}
}

// TestHostileClientsLoseNothing sends every kind of input in the "Hostile
// input" table of docs/security.md (but the slow reader: TestSlowReceiver),
// and publishes where the policy forbids it, to one broker with the built-in policy, while a healthy publisher and
// subscriber exchange a numbered sequence. Each hostile connection gets the
// documented answer; the healthy pair loses nothing, and the broker's
// bookkeeping (sessions, subscriptions, drops, counters) ends where it began.
func TestHostileClientsLoseNothing(t *testing.T) {
	const (
		maxFrame   = 64 << 10
		maxRefused = 100
		hostile    = "netmond" // the principal most hostile connections claim
		hostileSub = topic.ControlCollectorLifecycle
	)
	tb := startBroker(t, broker.Config{
		Wire:                 wire.Config{MaxFrameSize: maxFrame},
		Policy:               acl.Default(uint32(os.Geteuid())),
		MaxConnections:       64, // the fatal cases run all at once
		HandshakeTimeout:     time.Second,
		IdleTimeout:          3 * time.Second,
		MaxRefusedPublishes:  maxRefused,
		RefusedPublishWindow: 10 * time.Second,
	})
	maxSubs := tb.Config().MaxSubscriptions
	h := startHealthyPairAs(t, tb.sock, "procmond", acl.AgentName, "events.process.#", topic.EventsProcessLifecycle)
	var got []uint64
	h.progress(t, &got)
	baseSubs := tb.Stats().Subscriptions

	// dial connects a raw peer that reads with the broker's frame limit: an
	// answer larger than agreed fails the test too.
	dial := func(t *testing.T, crc wire.CRC) *rawConn {
		t.Helper()
		r := dialRawCRC(t, tb.sock, crc)
		r.rd = wire.NewReader(r.conn, wire.Config{CRC: crc, MaxFrameSize: maxFrame})
		return r
	}
	// settled waits until only the healthy sessions and their subscription
	// are left: whatever a hostile session held is gone with it.
	settled := func(t *testing.T) {
		t.Helper()
		eventually(t, "only the healthy sessions left", func() bool {
			st := tb.Stats()
			return st.Sessions == 2 && st.Subscriptions == baseSubs
		})
	}
	// frames frames envs; it is called from subtests too.
	frames := func(envs ...*pb.Envelope) []byte {
		var b []byte
		for _, env := range envs {
			var err error
			if b, err = wire.CRCIEEE.AppendEnvelope(b, env); err != nil {
				panic(err) // every envelope here has a kind
			}
		}
		return b
	}

	t.Run("fatal", func(t *testing.T) {
		randomBytes := func() []byte {
			b := make([]byte, 4<<10)
			if _, err := rand.Read(b); err != nil {
				t.Fatal(err)
			}
			return b
		}
		badSum := func(env *pb.Envelope) []byte {
			f := validFrame(t, wire.CRCIEEE, env)
			f[4] ^= 0x5a
			return f
		}
		// Field numbers no version of the protocol uses.
		unknownOnly := protowire.AppendVarint(protowire.AppendTag(nil, 1000, protowire.VarintType), 7)
		unknownOnly = protowire.AppendBytes(protowire.AppendTag(unknownOnly, 1001, protowire.BytesType), []byte("from the future"))
		invalid := []byte{0x32, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a} // a publish longer than the message
		publish := validFrame(t, wire.CRCIEEE, publishEnv("events.network.x", make([]byte, 100), 1))
		hello := validFrame(t, wire.CRCIEEE, helloEnv(hostile, wire.ProtocolVersion))
		welcome := &pb.Envelope{Kind: &pb.Envelope_Welcome{Welcome: &pb.Welcome{ProtocolVersion: 1, SessionId: 1}}}
		var (
			badFrame   = []pb.ErrorCode{pb.ErrorCode_ERROR_CODE_BAD_FRAME}
			tooLarge   = []pb.ErrorCode{pb.ErrorCode_ERROR_CODE_FRAME_TOO_LARGE}
			unexpected = []pb.ErrorCode{pb.ErrorCode_ERROR_CODE_UNEXPECTED_MESSAGE}
			timeout    = []pb.ErrorCode{pb.ErrorCode_ERROR_CODE_TIMEOUT}
			// Random bytes announce a random length: almost always too large,
			// otherwise the body fails its checksum or ends early.
			garbage = append(badFrame, tooLarge...)
		)
		cases := []struct {
			name      string
			handshake bool     // complete the handshake first
			crc       wire.CRC // the raw peer's variant
			bytes     []byte
			halfClose bool // close the sending side after the bytes
			codes     []pb.ErrorCode
			msg       string // in the error message
		}{
			{name: "garbage first", bytes: randomBytes(), halfClose: true, codes: garbage},
			{name: "garbage", handshake: true, bytes: randomBytes(), halfClose: true, codes: garbage},
			{name: "4 GiB length first", bytes: frameHeader(0xFFFFFFFF, 0), codes: tooLarge, msg: "4294967295 bytes announced"},
			{name: "4 GiB length", handshake: true, bytes: frameHeader(0xFFFFFFFF, 0xFFFFFFFF), codes: tooLarge, msg: "4294967295 bytes announced"},
			{name: "zero length first", bytes: frameHeader(0, 0), codes: badFrame, msg: "zero-length"},
			{name: "zero length", handshake: true, bytes: frameHeader(0, 0), codes: badFrame, msg: "zero-length"},
			{name: "bad CRC first", bytes: badSum(helloEnv(hostile, 1)), codes: badFrame, msg: "checksum mismatch"},
			{name: "bad CRC", handshake: true, bytes: badSum(pingEnv(1)), codes: badFrame, msg: "checksum mismatch"},
			{name: "other CRC variant first", crc: wire.CRCCastagnoli, bytes: validFrame(t, wire.CRCCastagnoli, helloEnv(hostile, 1)),
				codes: []pb.ErrorCode{pb.ErrorCode_ERROR_CODE_CRC_VARIANT}, msg: "peer uses castagnoli"},
			{name: "truncated hello then close", bytes: hello[:len(hello)-3], halfClose: true, codes: badFrame, msg: "stream ended after"},
			{name: "truncated then close", handshake: true, bytes: publish[:len(publish)/2], halfClose: true, codes: badFrame, msg: "stream ended after"},
			{name: "truncated header then close", handshake: true, bytes: publish[:5], halfClose: true, codes: badFrame, msg: "after 5 of 8 header bytes"},
			{name: "truncated hello then silence", bytes: hello[:len(hello)-3], codes: timeout, msg: "handshake not completed within 1s"},
			{name: "truncated then silence", handshake: true, bytes: publish[:len(publish)/2], codes: timeout, msg: "no message for 3s"},
			{name: "invalid protobuf first", bytes: wire.CRCIEEE.AppendFrame(nil, invalid), codes: badFrame, msg: "bad message"},
			{name: "invalid protobuf", handshake: true, bytes: wire.CRCIEEE.AppendFrame(nil, invalid), codes: badFrame, msg: "bad message"},
			{name: "unknown fields only first", bytes: wire.CRCIEEE.AppendFrame(nil, unknownOnly), codes: badFrame, msg: "no known message kind"},
			{name: "unknown fields only", handshake: true, bytes: wire.CRCIEEE.AppendFrame(nil, unknownOnly), codes: badFrame, msg: "no known message kind"},
			{name: "publish before hello", bytes: publish, codes: unexpected, msg: "expected hello"},
			{name: "second hello", handshake: true, bytes: hello, codes: unexpected, msg: "second hello"},
			{name: "broker-only kind", handshake: true, bytes: validFrame(t, wire.CRCIEEE, welcome), codes: unexpected, msg: "clients do not send welcome"},
		}
		before := tb.Stats()
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				r := dial(t, tc.crc)
				if tc.handshake {
					r.hello(hostile)
				}
				r.write(tc.bytes)
				if tc.halfClose {
					if err := r.conn.(*net.UnixConn).CloseWrite(); err != nil {
						t.Fatal(err)
					}
				}
				env := r.read()
				e := env.GetError()
				if e == nil || !slices.Contains(tc.codes, e.Code) {
					t.Fatalf("got %v, want an Error with one of %v", env, tc.codes)
				}
				if !e.Fatal {
					t.Errorf("error %v is not marked fatal", e)
				}
				if !strings.Contains(e.Message, tc.msg) {
					t.Errorf("error message %q does not say %q", e.Message, tc.msg)
				}
				expectClosed(t, r)
			})
		}
		t.Cleanup(func() {
			settled(t)
			after := tb.Stats()
			for _, c := range []struct {
				name          string
				before, after uint64
				want          int
			}{
				{"ProtocolErrors", before.ProtocolErrors, after.ProtocolErrors, len(cases) - 2},
				{"HandshakeTimeouts", before.HandshakeTimeouts, after.HandshakeTimeouts, 1},
				{"IdleTimeouts", before.IdleTimeouts, after.IdleTimeouts, 1},
			} {
				if c.after-c.before != uint64(c.want) {
					t.Errorf("Stats().%s grew by %d, want %d", c.name, c.after-c.before, c.want)
				}
			}
		})
	})
	h.progress(t, &got)

	t.Run("non-fatal", func(t *testing.T) {
		before := tb.Stats()
		r := dial(t, wire.CRCIEEE)
		// A Hello with unknown fields in the Envelope and in the Hello is
		// accepted, as protobuf compatibility wants.
		extra := func(b []byte) []byte {
			b = protowire.AppendFixed32(protowire.AppendTag(b, 900, protowire.Fixed32Type), 0xdeadbeef)
			return protowire.AppendBytes(protowire.AppendTag(b, 901, protowire.BytesType), []byte("newer field"))
		}
		withUnknown := func(field protowire.Number, msg proto.Message) []byte {
			inner, err := proto.Marshal(msg)
			if err != nil {
				t.Fatal(err)
			}
			env := protowire.AppendBytes(protowire.AppendTag(nil, field, protowire.BytesType), extra(inner))
			return wire.CRCIEEE.AppendFrame(nil, extra(env))
		}
		r.write(withUnknown(1, helloEnv(hostile, wire.ProtocolVersion).GetHello()))
		if env := r.read(); env.GetWelcome() == nil {
			t.Fatalf("hello with unknown fields answered with %v", env)
		}
		r.write(withUnknown(8, &pb.Ping{Nonce: 77}))
		if env := r.read(); env.GetPong().GetNonce() != 77 {
			t.Fatalf("ping 77 with unknown fields answered with %v", env)
		}
		r.write(withUnknown(6, &pb.Publish{Topic: "events.network.x", PublishId: 78}))
		if env := r.read(); env.GetPubAck().GetPublishId() != 78 {
			t.Fatalf("publish 78 with unknown fields answered with %v", env)
		}
		// Wildcards, and a topic far over the limit in a publish of the
		// largest frame allowed: refused, not fatal. The long topic is not
		// echoed, which would make the error larger than a frame.
		long := strings.Repeat("a", maxFrame)
		for proto.Size(publishEnv(long, []byte("x"), 103)) > maxFrame {
			long = long[1:]
		}
		for i, name := range []string{"events.network.+", "events.#", "#", long} {
			id := uint64(100 + i)
			r.send(publishEnv(name, []byte("x"), id))
			e := r.expectError(pb.ErrorCode_ERROR_CODE_BAD_TOPIC)
			want := name
			if name == long {
				want = ""
			}
			if e.Fatal || e.PublishId != id || e.Topic != want {
				t.Errorf("publish %d to %.20q answered with %.200v; want a non-fatal BAD_TOPIC naming the topic", id, name, e)
			}
		}
		// The same for a request, the largest frame allowed.
		request := func(name string) *pb.Envelope {
			return &pb.Envelope{Kind: &pb.Envelope_Request{Request: &pb.Request{RequestId: 104, Topic: name, TimeoutMs: 1000}}}
		}
		long = strings.Repeat("a", maxFrame)
		for proto.Size(request(long)) > maxFrame {
			long = long[1:]
		}
		r.send(request(long))
		if e := r.expectError(pb.ErrorCode_ERROR_CODE_BAD_TOPIC); e.Fatal || e.RequestId != 104 || e.Topic != "" {
			t.Errorf("request to a %d-byte topic answered with %.200v; want a non-fatal BAD_TOPIC for request 104", len(long), e)
		}
		r.ping(79)
		if d := tb.Stats().BadPublishes - before.BadPublishes; d != 5 {
			t.Errorf("Stats().BadPublishes grew by %d, want 5", d)
		}
		r.conn.Close()
		settled(t)
	})
	h.progress(t, &got)

	t.Run("subscribe flood", func(t *testing.T) {
		const (
			pairs  = 20000
			extra  = 100 // subscriptions past the limit
			window = 512 // requests in flight, well below the pending-replies bound
			chunk  = 128
		)
		before := tb.Stats()
		r := dial(t, wire.CRCIEEE)
		r.hello(hostile)
		maxSeen := 0
		// pipeline sends n requests, the frames request(i) for i in [0, n),
		// each answered by exactly one frame, which check judges. A reader
		// goroutine takes the answers while requests are sent, at most
		// window ahead of it: a client that sent without reading would be
		// closed at the pending-replies bound (see the next subtest).
		pipeline := func(n int, request func(i int) []byte, check func(i int, env *pb.Envelope) error) {
			t.Helper()
			var answered atomic.Int64
			done := make(chan error, 1)
			go func() {
				for i := range n {
					env, err := r.readEnv()
					if err == nil {
						err = check(i, env)
					}
					if err != nil {
						done <- fmt.Errorf("answer %d: %w", i, err)
						return
					}
					answered.Add(1)
				}
				done <- nil
			}()
			var buf []byte
			for i := 0; i < n; {
				for int64(i)-answered.Load() > window-chunk {
					select {
					case err := <-done:
						t.Fatalf("after %d requests: %v", i, err)
					case <-time.After(100 * time.Microsecond):
					}
				}
				buf = buf[:0]
				for end := min(i+chunk, n); i < end; i++ {
					buf = append(buf, request(i)...)
				}
				r.write(buf)
				maxSeen = max(maxSeen, tb.Stats().Subscriptions)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		unsubscribe := func(id uint32) *pb.Envelope {
			return &pb.Envelope{Kind: &pb.Envelope_Unsubscribe{Unsubscribe: &pb.Unsubscribe{SubscriptionId: id}}}
		}

		// Subscribe and unsubscribe, each pair with a new id: one live
		// subscription at a time, every one granted.
		pipeline(pairs, func(i int) []byte {
			return frames(subscribeEnv(uint32(i+1), hostileSub), unsubscribe(uint32(i+1)))
		}, func(i int, env *pb.Envelope) error {
			if a := env.GetSubAck(); a == nil || a.SubscriptionId != uint32(i+1) || !a.Granted {
				return fmt.Errorf("got %v, want a granting SubAck for %d", env, i+1)
			}
			return nil
		})
		if maxSeen > baseSubs+1 {
			t.Errorf("Stats().Subscriptions reached %d during subscribe/unsubscribe pairs, want at most %d", maxSeen, baseSubs+1)
		}
		r.ping(1)
		if s := tb.Stats().Subscriptions; s != baseSubs {
			t.Errorf("Stats().Subscriptions = %d after the pairs, want %d", s, baseSubs)
		}

		// Subscribe past the limit, with new ids: the extra ones are refused.
		id := func(i int) uint32 { return uint32(pairs + 1 + i) }
		pipeline(maxSubs+extra, func(i int) []byte {
			return frames(subscribeEnv(id(i), hostileSub))
		}, func(i int, env *pb.Envelope) error {
			a := env.GetSubAck()
			switch {
			case a == nil || a.SubscriptionId != id(i):
				return fmt.Errorf("got %v, want a SubAck for %d", env, id(i))
			case i < maxSubs && !a.Granted:
				return fmt.Errorf("subscription %d of %d refused: %v %s", i+1, maxSubs, a.Code, a.Reason)
			case i >= maxSubs && (a.Granted || a.Code != pb.ErrorCode_ERROR_CODE_LIMIT_EXCEEDED):
				return fmt.Errorf("subscription %d over the limit %d: %v, want LIMIT_EXCEEDED", i+1, maxSubs, a)
			}
			return nil
		})
		if maxSeen > baseSubs+maxSubs {
			t.Errorf("Stats().Subscriptions reached %d, above the limit of %d per session", maxSeen, maxSubs)
		}
		st := tb.Stats()
		if st.Subscriptions != baseSubs+maxSubs {
			t.Errorf("Stats().Subscriptions = %d at the limit, want %d", st.Subscriptions, baseSubs+maxSubs)
		}
		if d := st.SubscriptionLimit - before.SubscriptionLimit; d != extra {
			t.Errorf("Stats().SubscriptionLimit grew by %d, want %d", d, extra)
		}

		// Unsubscribing gives everything back; the session is still fine.
		var buf []byte
		for i := range maxSubs {
			buf = append(buf, frames(unsubscribe(id(i)))...)
		}
		r.write(buf)
		r.ping(2) // answered after every unsubscribe before it
		if s := tb.Stats().Subscriptions; s != baseSubs {
			t.Errorf("Stats().Subscriptions = %d after unsubscribing, want %d", s, baseSubs)
		}
		r.conn.Close()
		settled(t)
	})
	h.progress(t, &got)

	t.Run("subscribe flood without reading", func(t *testing.T) {
		const (
			chunk   = 1000
			maxSent = 500_000
		)
		before := tb.Stats()
		r := dial(t, wire.CRCIEEE)
		r.hello(hostile)
		// Subscribes until the broker hangs up: the answers fill the socket
		// buffers, then the reply queue, and at the bound the session is
		// closed.
		sent := 0
		var buf []byte
		for {
			if sent >= maxSent {
				t.Fatalf("%d subscribes with no answer read, and the session is still open", sent)
			}
			buf = buf[:0]
			for i := range chunk {
				buf = append(buf, frames(subscribeEnv(uint32(sent+i+1), hostileSub))...)
			}
			if err := r.conn.SetWriteDeadline(time.Now().Add(waitTimeout)); err != nil {
				t.Fatal(err)
			}
			_, err := r.conn.Write(buf)
			if s := tb.Stats().Subscriptions; s > baseSubs+maxSubs {
				t.Fatalf("Stats().Subscriptions = %d, above the limit %d per session", s, maxSubs)
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the broker stopped reading after %d subscribes without closing the session", sent)
			}
			if err != nil {
				break // closed by the broker
			}
			sent += chunk
		}
		t.Logf("closed after at most %d unanswered subscribes", sent+chunk)
		eventually(t, "the unread replies limit counted", func() bool {
			return tb.Stats().PendingRepliesLimit == before.PendingRepliesLimit+1
		})
		settled(t)
		if st := tb.Stats(); st.SubscriptionLimit == before.SubscriptionLimit {
			t.Errorf("Stats().SubscriptionLimit did not grow: %d subscribes, all granted?", sent)
		}
	})
	h.progress(t, &got)

	t.Run("refused publishes", func(t *testing.T) {
		const (
			n    = 150
			name = "events.network.x"
		)
		before := tb.Stats()
		r := dial(t, wire.CRCIEEE)
		r.hello("procmond")
		var buf []byte
		for i := range n {
			buf = append(buf, frames(publishEnv(name, []byte("x"), uint64(i+1)))...)
		}
		r.write(buf)
		for i := range maxRefused + 1 {
			e := r.expectError(pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED)
			if e.Fatal || e.Topic != name || e.PublishId != uint64(i+1) || !strings.Contains(e.Message, "procmond may not publish to "+name) {
				t.Fatalf("refusal %d: %v; want a non-fatal NOT_AUTHORIZED naming %s and publish %d", i+1, e, name, i+1)
			}
		}
		e := r.expectError(pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED)
		if !e.Fatal || !strings.Contains(e.Message, fmt.Sprintf("more than %d refused publishes", maxRefused)) {
			t.Errorf("after %d refusals: %v; want a fatal NOT_AUTHORIZED about refused publishes", maxRefused+1, e)
		}
		expectClosed(t, r)
		settled(t)
		st := tb.Stats()
		if st.RefusalDisconnects != before.RefusalDisconnects+1 {
			t.Errorf("Stats().RefusalDisconnects = %d, want %d", st.RefusalDisconnects, before.RefusalDisconnects+1)
		}
		if d := st.BadPublishes - before.BadPublishes; d != maxRefused+1 {
			t.Errorf("Stats().BadPublishes grew by %d, want %d", d, maxRefused+1)
		}
	})
	h.progress(t, &got)

	h.finish(t, got)
	st := tb.Stats()
	if st.Sessions != 2 || st.Subscriptions != baseSubs || st.Dropped != 0 {
		t.Errorf("at the end: %d sessions, %d subscriptions, %d dropped; want 2, %d, 0", st.Sessions, st.Subscriptions, st.Dropped, baseSubs)
	}
	if st.RouteCacheSize > broker.DefaultRouteCacheSize {
		t.Errorf("route cache holds %d topics, above its bound %d", st.RouteCacheSize, broker.DefaultRouteCacheSize)
	}
	if st.RefusalDisconnects != 1 || st.PendingRepliesLimit != 1 {
		t.Errorf("Stats(): %d refusal disconnects, %d unread-reply disconnects; want 1 each", st.RefusalDisconnects, st.PendingRepliesLimit)
	}
}

// expectClosed reads the end of the stream: EOF, or a reset when the broker
// closed with input of ours still unread.
func expectClosed(t *testing.T, r *rawConn) {
	t.Helper()
	env, err := r.readEnv()
	if err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("after the fatal error: got %v, %v; want the end of the stream", env, err)
	}
}

// TestCRCVariantAnswerEncoding checks byte by byte that the CRC_VARIANT
// answer carries a Castagnoli checksum, which the IEEE broker could only
// have produced on purpose.
func TestCRCVariantAnswerEncoding(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	r := dialRawCRC(t, tb.sock, wire.CRCCastagnoli)
	r.send(helloEnv("procmond", 1))
	// An IEEE reader sees the variant mismatch on this first frame.
	_ = r.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	ieee := wire.NewReader(r.conn, wire.Config{CRC: wire.CRCIEEE})
	_, err := ieee.ReadFrame()
	var ve *wire.CRCVariantError
	if !errors.As(err, &ve) || ve.Peer != wire.CRCCastagnoli {
		t.Fatalf("reading the answer as ieee: %v; want a CRCVariantError naming castagnoli", err)
	}
}

func TestDialCRCVariantMismatch(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{Endpoint: tb.sock, Name: "procmond", Logger: quiet,
		Wire: wire.Config{CRC: wire.CRCCastagnoli}})
	if err == nil {
		c.Close()
		t.Fatal("Dial with castagnoli against an ieee broker succeeded")
	}
	var be *client.BrokerError
	if !errors.As(err, &be) || be.Code != pb.ErrorCode_ERROR_CODE_CRC_VARIANT {
		t.Fatalf("Dial error %v (%T); want a *client.BrokerError with CRC_VARIANT", err, err)
	}
	if !strings.Contains(err.Error(), "CRC variant mismatch") || !strings.Contains(err.Error(), "castagnoli") {
		t.Errorf("Dial error %q does not explain the CRC variant mismatch", err)
	}
	if !be.Fatal {
		t.Error("BrokerError.Fatal is false for a refused handshake")
	}
}

func TestMaxConnections(t *testing.T) {
	tb := startBroker(t, broker.Config{MaxConnections: 2})
	first := dialClient(t, tb.sock, "first")
	dialClient(t, tb.sock, "second")

	r := dialRaw(t, tb.sock)
	e := r.expectFatal(pb.ErrorCode_ERROR_CODE_TOO_MANY_CONNECTIONS)
	if !strings.Contains(e.Message, "too many connections") {
		t.Errorf("refusal message %q", e.Message)
	}
	if got := tb.Stats().RefusedTooMany; got != 1 {
		t.Errorf("Stats().RefusedTooMany = %d, want 1", got)
	}

	// A client.Dial at the limit fails with the broker's reason.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if c, err := client.Dial(ctx, client.Options{Endpoint: tb.sock, Name: "third", Logger: quiet}); err == nil {
		c.Close()
		t.Fatal("third client admitted at MaxConnections 2")
	} else if be := (*client.BrokerError)(nil); !errors.As(err, &be) || be.Code != pb.ErrorCode_ERROR_CODE_TOO_MANY_CONNECTIONS {
		t.Fatalf("third Dial: %v; want TOO_MANY_CONNECTIONS", err)
	}
	if got := tb.Stats().RefusedTooMany; got != 2 {
		t.Errorf("Stats().RefusedTooMany = %d, want 2", got)
	}

	first.Close()
	eventually(t, "first session gone", func() bool { return tb.Stats().Sessions == 1 })
	c := dialClient(t, tb.sock, "after")
	if n := publishConfirmed(t, c, "events.x", nil); n != 0 {
		t.Errorf("PublishConfirmed reached %d receivers, want 0", n)
	}
}

// TestSlowReceiver fills a non-reading subscriber's socket and queue: events
// are dropped for it alone, the publisher and a healthy subscriber carry on,
// and the slow one learns of the gap in its next delivery.
func TestSlowReceiver(t *testing.T) {
	const (
		queueMsgs = 64
		size      = 1 << 10
		minEvents = 2000
		maxEvents = 40000
		// Healthy messages in flight at most: well under half the queue,
		// so that flow control never waits for the healthy subscriber.
		window = queueMsgs / 4
	)
	tb := startBroker(t, broker.Config{
		QueueMessages: queueMsgs,
		// Long enough that neither limit ends the stalled session first.
		WriteTimeout: time.Minute,
		IdleTimeout:  time.Minute,
	})
	slow := dialRaw(t, tb.sock)
	slow.hello("slow")
	slow.mustSubscribe(1, "load.#")

	healthy := newInbox(maxEvents + 1000)
	sub := dialClient(t, tb.sock, "healthy")
	subscribe(t, sub, "load.#", healthy.handler)
	pub := dialClient(t, tb.sock, "publisher")

	var want uint64 // next sequence number the healthy subscriber must get
	receive := func(until uint64) {
		t.Helper()
		for want < until {
			m := healthy.next(t)
			if s := seqOf(m.Payload); s != want || m.Dropped != 0 {
				t.Fatalf("healthy subscriber got seq %d (dropped %d), want %d with nothing dropped", s, m.Dropped, want)
			}
			want++
		}
	}
	var seq uint64
	publish := func() {
		t.Helper()
		// Flow control for the healthy subscriber only: at most window of
		// its messages in flight, so its own queue never overflows. Nothing
		// waits for the slow one.
		if seq >= window {
			receive(seq - window + 1)
		}
		if n := publishConfirmed(t, pub, "load.seq", seqPayload(seq, size)); n < 1 {
			t.Fatalf("publish %d queued for %d receivers, want at least the healthy one", seq, n)
		}
		seq++
	}

	for seq < minEvents || tb.Stats().Dropped < queueMsgs {
		if seq >= maxEvents {
			t.Fatalf("%d events published and only %d dropped for a subscriber that does not read", seq, tb.Stats().Dropped)
		}
		publish()
	}
	t.Logf("published %d, dropped %d", seq, tb.Stats().Dropped)
	// Flow control waited for the subscriber that does not read while its
	// socket still took bytes, then once in vain, and not since: one
	// give-up, and a handful of pauses, not one per dropped event.
	if st := tb.Stats(); st.FlowControlGiveUps != 1 || st.FlowControlWaits > st.Dropped/16 {
		t.Fatalf("publisher paused %d times and gave up %d times for a subscriber that does not read (%d dropped); want one give-up and few pauses",
			st.FlowControlWaits, st.FlowControlGiveUps, st.Dropped)
	}

	// The slow subscriber starts reading. Its deliveries must come in
	// order, each gap in the sequence announced exactly by dropped_before.
	frames := make(chan *pb.Envelope, 2*maxEvents)
	readErr := make(chan error, 1)
	go func() {
		for {
			env, err := slow.readEnv()
			if err != nil {
				readErr <- err
				return
			}
			frames <- env
		}
	}()
	prev := int64(-1)
	var slowGot, slowDropped uint64
	gapSeen := false
	check := func(env *pb.Envelope) {
		t.Helper()
		d := env.GetDeliver()
		if d == nil {
			t.Fatalf("slow subscriber got %v, want a delivery", env)
		}
		s := int64(seqOf(d.Payload))
		dropped := env.GetDelivery().GetDroppedBefore()
		if s <= prev || uint64(s-prev-1) != dropped {
			t.Fatalf("slow subscriber got seq %d after %d with dropped_before %d", s, prev, dropped)
		}
		prev = s
		slowGot++
		slowDropped += dropped
		gapSeen = gapSeen || dropped > 0
	}
	// Events dropped earlier are reported with the next one queued for the
	// slow subscriber, so keep publishing until one is.
	for !gapSeen {
		select {
		case env := <-frames:
			check(env)
		case err := <-readErr:
			t.Fatalf("slow subscriber: %v", err)
		default:
			if seq >= 2*maxEvents {
				t.Fatal("no delivery with dropped_before > 0 reached the slow subscriber")
			}
			publish()
		}
	}
	// A ping is answered after everything queued before it: once its pong
	// is in, the slow subscriber's queue is empty and the next event reaches
	// both subscribers, reporting any drops that were still unreported.
	slow.send(pingEnv(99))
	for pong := false; !pong; {
		select {
		case env := <-frames:
			if env.GetPong().GetNonce() == 99 {
				pong = true
			} else {
				check(env)
			}
		case err := <-readErr:
			t.Fatalf("slow subscriber: %v", err)
		case <-time.After(waitTimeout):
			t.Fatal("no pong from the slow subscriber's session")
		}
	}
	last := seq
	if seq >= window {
		receive(seq - window + 1)
	}
	if n := publishConfirmed(t, pub, "load.seq", seqPayload(last, size)); n != 2 {
		t.Errorf("final publish queued for %d receivers, want 2", n)
	}
	seq++
	for prev != int64(last) {
		select {
		case env := <-frames:
			check(env)
		case err := <-readErr:
			t.Fatalf("slow subscriber: %v", err)
		case <-time.After(waitTimeout):
			t.Fatalf("slow subscriber stuck at seq %d, want %d", prev, last)
		}
	}
	receive(seq)
	if !healthy.empty() {
		t.Fatal("healthy subscriber got more messages than published")
	}
	st := tb.Stats()
	t.Logf("slow subscriber: %d delivered, %d dropped of %d", slowGot, slowDropped, seq)
	if slowGot+slowDropped != seq || slowDropped == 0 {
		t.Errorf("slow subscriber: %d delivered + %d dropped, want %d with some dropped", slowGot, slowDropped, seq)
	}
	if st.Dropped != slowDropped {
		t.Errorf("Stats().Dropped = %d, but the slow subscriber was told of %d", st.Dropped, slowDropped)
	}
	if err := sub.Err(); err != nil {
		t.Fatalf("healthy subscriber disconnected: %v", err)
	}
}

func TestIdleTimeout(t *testing.T) {
	tb := startBroker(t, broker.Config{IdleTimeout: 300 * time.Millisecond})
	c := dialClient(t, tb.sock, "pinger")
	if got := c.Welcome().PingIntervalMs; got != 100 {
		t.Errorf("Welcome ping interval %dms, want 100", got)
	}

	r := dialRaw(t, tb.sock)
	r.hello("silent")
	e := r.expectFatal(pb.ErrorCode_ERROR_CODE_TIMEOUT)
	if !strings.Contains(e.Message, "300ms") {
		t.Errorf("timeout message %q does not name the idle timeout", e.Message)
	}

	// Here waiting is the point: a client that only pings outlives several
	// idle periods.
	select {
	case <-c.Done():
		t.Fatalf("client disconnected while idle: %v", c.Err())
	case <-time.After(time.Second):
	}
	if err := c.Err(); err != nil {
		t.Fatalf("client.Err() = %v after an idle second", err)
	}
	if n := publishConfirmed(t, c, "events.x", nil); n != 0 {
		t.Errorf("PublishConfirmed reached %d receivers, want 0", n)
	}
	if s := tb.Stats().Sessions; s != 1 {
		t.Errorf("Stats().Sessions = %d, want 1", s)
	}
}

// TestPublishAtFrameLimit publishes events whose Publish frame is exactly
// the maximum frame size. Delivered, with the publisher's identity and the
// timestamp added, it would be larger than any peer may send, so the broker
// refuses it, and subscribers that read with the agreed limit stay
// connected.
func TestPublishAtFrameLimit(t *testing.T) {
	const maxFrame = 64 << 10
	cfg := wire.Config{MaxFrameSize: maxFrame}
	tb := startBroker(t, broker.Config{Wire: cfg})
	in := newInbox(16)
	sub := dialClient(t, tb.sock, "agent", func(o *client.Options) { o.Wire = cfg })
	subscribe(t, sub, "events.#", in.handler)
	pub := dialClient(t, tb.sock, "procmond", func(o *client.Options) { o.Wire = cfg })

	// A payload that makes the Publish envelope, publish id included,
	// exactly maxFrame bytes.
	size := maxFrame
	for proto.Size(publishEnv("events.big", make([]byte, size), 1<<40)) > maxFrame {
		size--
	}
	if got := proto.Size(publishEnv("events.big", make([]byte, size), 1<<40)); got != maxFrame {
		t.Fatalf("no payload gives a %d-byte publish (closest %d)", maxFrame, got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, err := pub.PublishConfirmed(ctx, "events.big", make([]byte, size))
	var be *client.BrokerError
	if !errors.As(err, &be) || be.Code != pb.ErrorCode_ERROR_CODE_FRAME_TOO_LARGE || be.Fatal {
		t.Errorf("PublishConfirmed of a maximal event: %v; want a non-fatal FRAME_TOO_LARGE refusal", err)
	}
	// A smaller event still goes through to the subscriber.
	small := size - 1024
	if n := publishConfirmed(t, pub, "events.ok", make([]byte, small)); n != 1 {
		t.Errorf("smaller event reached %d receivers", n)
	}
	if m := in.next(t); m.Topic != "events.ok" || len(m.Payload) != small {
		t.Errorf("subscriber got %q with %d bytes, want events.ok with %d", m.Topic, len(m.Payload), small)
	}
	for _, c := range []*client.Client{sub, pub} {
		if err := c.Err(); err != nil {
			t.Errorf("client disconnected: %v", err)
		}
	}
}

// TestSubscriptionListWithinFrameLimit makes the subscription lists larger
// than the agreed maximum frame size. A reply the client must refuse would
// cost it its connection, so the broker refuses the request instead, without
// ending the session.
func TestSubscriptionListWithinFrameLimit(t *testing.T) {
	cfg := wire.Config{MaxFrameSize: wire.MinMaxFrameSize}
	tb := startBroker(t, broker.Config{Wire: cfg})
	lister := dialClient(t, tb.sock, "lister", func(o *client.Options) { o.Wire = cfg })
	// Another session whose subscriptions alone fill more than a frame.
	other := dialRaw(t, tb.sock)
	other.hello("hoarder")
	long := strings.Repeat("x", 200)
	for i := range 2 * wire.MinMaxFrameSize / len(long) {
		other.mustSubscribe(uint32(i+1), fmt.Sprintf("hoard.%d.%s", i, long))
	}
	for i := range 2 * wire.MinMaxFrameSize / len(long) {
		subscribe(t, lister, fmt.Sprintf("mine.%d.%s", i, long), func(*client.Message) {})
	}

	for _, all := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		_, err := lister.ListSubscriptions(ctx, all)
		cancel()
		var be *client.BrokerError
		if !errors.As(err, &be) || be.Code != pb.ErrorCode_ERROR_CODE_FRAME_TOO_LARGE || be.Fatal {
			t.Fatalf("ListSubscriptions(all=%v) of more than a frame: %v; want a non-fatal FRAME_TOO_LARGE refusal", all, err)
		}
		if err := lister.Err(); err != nil {
			t.Fatalf("lister disconnected by its own subscription list: %v", err)
		}
	}
	// The raw session reads with the same limit and stays up too.
	other.send(&pb.Envelope{Kind: &pb.Envelope_ListSubscriptions{ListSubscriptions: &pb.ListSubscriptions{RequestId: 5}}})
	if e := other.expectError(pb.ErrorCode_ERROR_CODE_FRAME_TOO_LARGE); e.Fatal || e.RequestId != 5 {
		t.Errorf("raw list refusal %v: want non-fatal, request id 5", e)
	}
	other.ping(6)
	if n := publishConfirmed(t, lister, "mine.0."+long, nil); n != 1 {
		t.Errorf("publish after the refused lists reached %d receivers, want 1", n)
	}
}
