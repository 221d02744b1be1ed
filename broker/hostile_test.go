package broker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/client"
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
}

func startHealthyPair(t *testing.T, sock string) *healthyPair {
	t.Helper()
	h := &healthyPair{
		in:    newInbox(1 << 16),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		pub:   dialClient(t, sock, "healthy-pub"),
		sub:   dialClient(t, sock, "healthy-sub"),
		topic: "healthy.seq",
	}
	subscribe(t, h.sub, "healthy.#", h.in.handler)
	go func() {
		defer close(h.done)
		for seq := uint64(0); seq < 1<<16; seq++ {
			select {
			case <-h.stop:
				return
			default:
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
			*got = append(*got, seqOf(m.Payload))
		case <-h.done:
			t.Fatalf("healthy publisher stopped after %d messages: %v", h.sent, h.err)
		case <-deadline:
			t.Fatal("healthy pair made no progress")
		}
	}
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
		got = append(got, seqOf(h.in.next(t).Payload))
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
		window    = queueMsgs / 2 // healthy messages in flight at most
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
