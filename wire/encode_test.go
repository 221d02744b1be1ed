package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

var crcVariants = []CRC{CRCIEEE, CRCCastagnoli}

// goldenFrames are complete frames, byte for byte. The byte-level examples
// in docs/protocol.md are among them, so that what the document shows is
// what the codec sends; the expected hex was worked out independently of
// this package (zlib's CRC-32 and a bitwise CRC-32C over the protobuf bytes
// written out by hand), so a change of the codec or of the generated code
// shows here.
var goldenFrames = []struct {
	name         string
	env          *pb.Envelope
	ieee, crc32c string
}{
	{
		// Envelope.ping (8, LEN) {Ping.nonce (1, VARINT) 1}
		name:   "ping nonce 1",
		env:    &pb.Envelope{Kind: &pb.Envelope_Ping{Ping: &pb.Ping{Nonce: 1}}},
		ieee:   "04000000" + "5a2103ac" + "42020801",
		crc32c: "04000000" + "1725b67c" + "42020801",
	},
	{
		// Envelope.hello (1, LEN) {client_name (1) "procmond", protocol_version (3) 1}
		name:   "hello procmond v1",
		env:    &pb.Envelope{Kind: &pb.Envelope_Hello{Hello: &pb.Hello{ClientName: "procmond", ProtocolVersion: 1}}},
		ieee:   "0e000000" + "3c2e789c" + "0a0c0a0870726f636d6f6e641801",
		crc32c: "0e000000" + "31a3e879" + "0a0c0a0870726f636d6f6e641801",
	},
	{
		// Envelope.deliver (7) {topic "t", payload "hi"},
		// Envelope.delivery (15) {subscription_ids [1, 300] packed, dropped_before 2}
		name: "deliver with delivery info",
		env: &pb.Envelope{
			Kind:     &pb.Envelope_Deliver{Deliver: &pb.Deliver{Topic: "t", Payload: []byte("hi")}},
			Delivery: &pb.DeliveryInfo{SubscriptionIds: []uint32{1, 300}, DroppedBefore: 2},
		},
		ieee:   "12000000" + "5e5fdeb7" + "3a070a017412026869" + "7a070a0301ac021002",
		crc32c: "12000000" + "dcf49de9" + "3a070a017412026869" + "7a070a0301ac021002",
	},
	{
		// Envelope.publish (6, LEN) {topic (1) "events.process.lifecycle", payload (2) "hi"}
		name:   "publish events.process.lifecycle",
		env:    &pb.Envelope{Kind: &pb.Envelope_Publish{Publish: &pb.Publish{Topic: "events.process.lifecycle", Payload: []byte("hi")}}},
		ieee:   "20000000" + "86a4d8a2" + "321e" + "0a18" + docTopicHex + "12026869",
		crc32c: "20000000" + "c9d19599" + "321e" + "0a18" + docTopicHex + "12026869",
	},
	{
		// The 48 shared bytes: Envelope.deliver (7, LEN) {topic (1), payload (2)
		// "hi", timestamp_unix_nano (3) 1, publisher (4) {client_name (1)
		// "procmond", session_id (3) 7}}; then the suffix, Envelope.delivery
		// (15) {subscription_ids (1) [1, 2] packed}.
		name:   "deliver to subscriptions 1 and 2",
		env:    docDeliver(&pb.DeliveryInfo{SubscriptionIds: []uint32{1, 2}}),
		ieee:   "36000000" + "9c5a5fd9" + docDeliverHex + "7a040a020102",
		crc32c: "36000000" + "40eade7a" + docDeliverHex + "7a040a020102",
	},
	{
		// The same shared bytes; suffix Envelope.delivery (15)
		// {subscription_ids [3] packed, dropped_before (2) 5}.
		name:   "deliver to subscription 3 after 5 drops",
		env:    docDeliver(&pb.DeliveryInfo{SubscriptionIds: []uint32{3}, DroppedBefore: 5}),
		ieee:   "37000000" + "c14391f9" + docDeliverHex + "7a050a01031005",
		crc32c: "37000000" + "59f570fc" + docDeliverHex + "7a050a01031005",
	},
}

// The event of the Publish and Deliver examples in docs/protocol.md.
const (
	// "events.process.lifecycle"
	docTopicHex = "6576656e74732e70726f636573732e6c6966656379636c65"
	// Its Deliver as session 7 ("procmond") at timestamp 1: the part every
	// receiver shares.
	docDeliverHex = "3a2e" + "0a18" + docTopicHex + "12026869" + "1801" + "220c" + "0a0870726f636d6f6e64" + "1807"
)

// docDeliver is the Deliver example of docs/protocol.md with the
// per-receiver part info.
func docDeliver(info *pb.DeliveryInfo) *pb.Envelope {
	return &pb.Envelope{
		Kind: &pb.Envelope_Deliver{Deliver: &pb.Deliver{
			Topic:             "events.process.lifecycle",
			Payload:           []byte("hi"),
			TimestampUnixNano: 1,
			Publisher:         &pb.Publisher{ClientName: "procmond", SessionId: 7},
		}},
		Delivery: info,
	}
}

func goldenHex(c CRC, i int) string {
	if c == CRCCastagnoli {
		return goldenFrames[i].crc32c
	}
	return goldenFrames[i].ieee
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// refChecksum computes a frame checksum with hash/crc32 directly, not
// through the package, as an independent reference.
func refChecksum(c CRC, b []byte) uint32 {
	if c == CRCCastagnoli {
		return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
	}
	return crc32.ChecksumIEEE(b)
}

// frameHeader builds a header by hand.
func frameHeader(n, sum uint32) []byte {
	var h [HeaderSize]byte
	binary.LittleEndian.PutUint32(h[:4], n)
	binary.LittleEndian.PutUint32(h[4:], sum)
	return h[:]
}

// checkFrame verifies the header of the frame at the start of frame against
// its body with the reference checksum, and returns the body.
func checkFrame(t *testing.T, c CRC, frame []byte) []byte {
	t.Helper()
	if len(frame) < HeaderSize {
		t.Fatalf("frame of %d bytes has no header", len(frame))
	}
	n := binary.LittleEndian.Uint32(frame)
	if int(n) != len(frame)-HeaderSize {
		t.Fatalf("length prefix %d, body has %d bytes", n, len(frame)-HeaderSize)
	}
	body := frame[HeaderSize:]
	if got, want := binary.LittleEndian.Uint32(frame[4:]), refChecksum(c, body); got != want {
		t.Fatalf("%v checksum in header %#08x, crc32 of the body is %#08x", c, got, want)
	}
	return body
}

// encodeGolden encodes env as the broker and clients do: a Deliver with
// DeliveryInfo through EncodeShared and AppendDeliveryFrame, everything else
// through AppendEnvelope. (AppendEnvelope would put delivery before deliver,
// which is equally valid protobuf but other bytes.)
func encodeGolden(t *testing.T, c CRC, dst []byte, env *pb.Envelope) []byte {
	t.Helper()
	if env.Delivery == nil {
		out, err := c.AppendEnvelope(dst, env)
		if err != nil {
			t.Fatalf("AppendEnvelope: %v", err)
		}
		return out
	}
	msg, sum, err := c.EncodeShared(&pb.Envelope{Kind: env.Kind})
	if err != nil {
		t.Fatalf("EncodeShared: %v", err)
	}
	return c.AppendDeliveryFrame(dst, msg, sum, env.Delivery.SubscriptionIds, env.Delivery.DroppedBefore)
}

func TestGoldenFrames(t *testing.T) {
	for i, g := range goldenFrames {
		for _, c := range crcVariants {
			t.Run(g.name+"/"+c.String(), func(t *testing.T) {
				want := mustHex(t, goldenHex(c, i))
				body := checkFrame(t, c, want)

				prefix := []byte("already queued")
				got := encodeGolden(t, c, append([]byte(nil), prefix...), g.env)
				if !bytes.HasPrefix(got, prefix) {
					t.Fatalf("encoding changed the bytes already in dst: %q", got)
				}
				if got := got[len(prefix):]; !bytes.Equal(got, want) {
					t.Errorf("encoded:\n got %x\nwant %x", got, want)
				}
				if got := c.AppendFrame(nil, body); !bytes.Equal(got, want) {
					t.Errorf("AppendFrame:\n got %x\nwant %x", got, want)
				}

				r := NewReader(bytes.NewReader(want), Config{CRC: c})
				msg, err := r.ReadFrame()
				if err != nil {
					t.Fatalf("ReadFrame: %v", err)
				}
				if !bytes.Equal(msg, body) {
					t.Errorf("ReadFrame = %x, want %x", msg, body)
				}
				var env pb.Envelope
				if err := DecodeEnvelope(msg, &env); err != nil {
					t.Fatalf("DecodeEnvelope: %v", err)
				}
				if !proto.Equal(&env, g.env) {
					t.Errorf("decoded %v, want %v", &env, g.env)
				}
				if _, err := r.ReadFrame(); err != io.EOF {
					t.Errorf("after the only frame: %v, want io.EOF", err)
				}
			})
		}
	}
}

func TestAppendEnvelopeErrors(t *testing.T) {
	tests := []struct {
		name    string
		env     *pb.Envelope
		wantErr error // nil: any error
	}{
		{"nil envelope", nil, ErrBadMessage},
		{"no kind", &pb.Envelope{}, ErrBadMessage},
		{"delivery without kind", &pb.Envelope{Delivery: &pb.DeliveryInfo{SubscriptionIds: []uint32{1}}}, ErrBadMessage},
		{"invalid UTF-8", &pb.Envelope{Kind: &pb.Envelope_Hello{Hello: &pb.Hello{ClientName: "proc\xffmond"}}}, nil},
	}
	for _, tt := range tests {
		for _, c := range crcVariants {
			prefix := []byte("earlier frames")
			dst := make([]byte, len(prefix), 256)
			copy(dst, prefix)
			got, err := c.AppendEnvelope(dst, tt.env)
			if err == nil {
				t.Errorf("%s/%v: AppendEnvelope succeeded: %x", tt.name, c, got)
				continue
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("%s/%v: error %v, want %v", tt.name, c, err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "wire: ") {
				t.Errorf("%s/%v: error %q lacks the wire: prefix", tt.name, c, err)
			}
			if !bytes.Equal(got, prefix) {
				t.Errorf("%s/%v: failed AppendEnvelope returned %q, want dst unchanged %q", tt.name, c, got, prefix)
			}

			if msg, sum, err := c.EncodeShared(tt.env); err == nil {
				t.Errorf("%s/%v: EncodeShared succeeded: %x %#x", tt.name, c, msg, sum)
			} else if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("%s/%v: EncodeShared error %v, want %v", tt.name, c, err, tt.wantErr)
			}
		}
	}
}

// TestAppendEnvelopeNoAlloc checks the documented promise: with room in dst
// the envelope is encoded in place.
func TestAppendEnvelopeNoAlloc(t *testing.T) {
	env := goldenFrames[1].env
	dst := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if dst, err = CRCCastagnoli.AppendEnvelope(dst[:0], env); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("AppendEnvelope into a buffer with room: %v allocations, want 0", allocs)
	}
}

func TestDecodeEnvelopeErrors(t *testing.T) {
	unknownOnly := protowire.AppendTag(nil, 100, protowire.VarintType)
	unknownOnly = protowire.AppendVarint(unknownOnly, 5)
	unknownOnly = protowire.AppendTag(unknownOnly, 99, protowire.BytesType)
	unknownOnly = protowire.AppendString(unknownOnly, "a kind from the future")

	tests := []struct {
		name string
		msg  []byte
		want string // in the message
	}{
		{"nil", nil, "no known message kind"},
		{"empty", []byte{}, "no known message kind"},
		{"invalid tag", []byte{0xff}, ""},
		{"field number zero", []byte{0x00, 0x01}, ""},
		{"truncated varint", []byte{0x40, 0x80}, ""},
		{"length past the end", []byte{0x42, 0x05, 0x08, 0x01}, ""},
		{"truncated inner field", []byte{0x42, 0x01, 0x08}, ""},
		{"end group without start", []byte{0x44}, ""},
		{"invalid UTF-8 in a string", mustHex(t, "0a040a02ff01"), ""},
		{"unknown fields only", unknownOnly, "no known message kind"},
		{"delivery only", mustHex(t, "7a020801"), "no known message kind"},
		{"ping with the wrong wire type", []byte{0x40, 0x01}, "no known message kind"},
	}
	for _, tt := range tests {
		env := &pb.Envelope{Kind: &pb.Envelope_Ping{Ping: &pb.Ping{Nonce: 9}}}
		err := DecodeEnvelope(tt.msg, env)
		if !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: DecodeEnvelope(%x) = %v, want ErrBadMessage", tt.name, tt.msg, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %q does not say %q", tt.name, err, tt.want)
		}
		for _, other := range []error{ErrChecksum, ErrTruncated, ErrEmptyFrame, ErrFrameTooLarge, ErrCRCVariant} {
			if errors.Is(err, other) {
				t.Errorf("%s: error %v also matches %v", tt.name, err, other)
			}
		}
	}
}

func TestDecodeEnvelopeUnknownFieldsWithKind(t *testing.T) {
	msg := mustHex(t, "42020801") // ping nonce 1
	msg = protowire.AppendTag(msg, 99, protowire.BytesType)
	msg = protowire.AppendString(msg, "added by a newer peer")
	msg = protowire.AppendTag(msg, 16, protowire.VarintType)
	msg = protowire.AppendVarint(msg, math.MaxUint64)

	var env pb.Envelope
	if err := DecodeEnvelope(msg, &env); err != nil {
		t.Fatalf("DecodeEnvelope with unknown extra fields: %v", err)
	}
	if got := env.GetPing().GetNonce(); got != 1 {
		t.Errorf("ping nonce %d, want 1", got)
	}
	if len(env.ProtoReflect().GetUnknown()) == 0 {
		t.Error("unknown fields were dropped")
	}
}

func TestDecodeEnvelopeResetsAndCopies(t *testing.T) {
	env := &pb.Envelope{
		Kind:     &pb.Envelope_Hello{Hello: &pb.Hello{ClientName: "stale"}},
		Delivery: &pb.DeliveryInfo{DroppedBefore: 3},
	}
	want := &pb.Envelope{Kind: &pb.Envelope_Publish{Publish: &pb.Publish{
		Topic:   "events.process.start",
		Payload: []byte("payload bytes"),
	}}}
	msg, err := proto.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if err := DecodeEnvelope(msg, env); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(env, want) {
		t.Fatalf("decoded %v, want %v (fields of the previous value must be gone)", env, want)
	}
	// The envelope owns its bytes: the caller may reuse msg.
	for i := range msg {
		msg[i] = 0xAA
	}
	if !proto.Equal(env, want) {
		t.Errorf("after overwriting msg the envelope changed to %v", env)
	}
}

// deliveryReceivers are per-receiver suffixes for one shared Deliver.
var deliveryReceivers = []struct {
	ids     []uint32
	dropped uint64
}{
	{nil, 0},
	{[]uint32{1}, 0},
	{[]uint32{5}, 1},
	{[]uint32{}, 7},
	{[]uint32{2, 127, 128, 1<<21 - 1, 1 << 21, 1<<28 + 5, math.MaxUint32}, 0},
	{[]uint32{42}, 1 << 40},
	{[]uint32{3, 1 << 30}, math.MaxUint64},
}

func sharedDeliver() *pb.Envelope {
	return &pb.Envelope{Kind: &pb.Envelope_Deliver{Deliver: &pb.Deliver{
		Topic:             "events.process.start",
		Payload:           bytes.Repeat([]byte{0x5c}, 300),
		TimestampUnixNano: 1_700_000_000_123_456_789,
		Publisher:         &pb.Publisher{ClientName: "procmond", InstanceId: "host-1234", SessionId: 77},
		Correlation:       &pb.Correlation{CorrelationId: "c-1", Sequence: 9, Tags: map[string]string{"k": "v"}},
	}}}
}

func TestAppendDeliveryFrame(t *testing.T) {
	shared := sharedDeliver()
	for _, c := range crcVariants {
		t.Run(c.String(), func(t *testing.T) {
			msg, sum, err := c.EncodeShared(shared)
			if err != nil {
				t.Fatal(err)
			}
			if sum != refChecksum(c, msg) {
				t.Fatalf("EncodeShared checksum %#08x, crc32 of its bytes %#08x", sum, refChecksum(c, msg))
			}
			keep := append([]byte(nil), msg...)

			buf := []byte("earlier")
			var frames [][]byte
			for _, rc := range deliveryReceivers {
				start := len(buf)
				buf = c.AppendDeliveryFrame(buf, msg, sum, rc.ids, rc.dropped)
				frames = append(frames, buf[start:])
			}
			if !bytes.HasPrefix(buf, []byte("earlier")) {
				t.Fatal("AppendDeliveryFrame changed the bytes already in dst")
			}
			if !bytes.Equal(msg, keep) {
				t.Fatal("AppendDeliveryFrame changed the shared bytes")
			}

			r := NewReader(bytes.NewReader(buf[len("earlier"):]), Config{CRC: c})
			for i, rc := range deliveryReceivers {
				info := &pb.DeliveryInfo{SubscriptionIds: rc.ids, DroppedBefore: rc.dropped}
				body := checkFrame(t, c, frames[i])
				// The body is the shared bytes followed by exactly the encoding
				// of Envelope.delivery.
				suffix, err := proto.Marshal(&pb.Envelope{Delivery: info})
				if err != nil {
					t.Fatal(err)
				}
				if want := append(append([]byte(nil), msg...), suffix...); !bytes.Equal(body, want) {
					t.Errorf("receiver %d: body\n got %x\nwant %x", i, body, want)
				}

				got, err := r.ReadFrame()
				if err != nil {
					t.Fatalf("receiver %d: ReadFrame: %v", i, err)
				}
				if !bytes.Equal(got, body) {
					t.Fatalf("receiver %d: ReadFrame returned other bytes than appended", i)
				}
				var env pb.Envelope
				if err := DecodeEnvelope(got, &env); err != nil {
					t.Fatalf("receiver %d: DecodeEnvelope: %v", i, err)
				}
				want := proto.Clone(shared).(*pb.Envelope)
				want.Delivery = info
				if !proto.Equal(&env, want) {
					t.Errorf("receiver %d: decoded\n%v\nwant\n%v", i, &env, want)
				}
				if !proto.Equal(env.GetDeliver(), shared.GetDeliver()) {
					t.Errorf("receiver %d: the shared Deliver changed", i)
				}
			}
			if _, err := r.ReadFrame(); err != io.EOF {
				t.Errorf("after the last frame: %v, want io.EOF", err)
			}
		})
	}
}

func TestAppendDeliveryFrameNoAlloc(t *testing.T) {
	msg, sum, err := CRCIEEE.EncodeShared(sharedDeliver())
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 0, 4096)
	ids := []uint32{1, 1 << 25}
	allocs := testing.AllocsPerRun(100, func() {
		dst = CRCIEEE.AppendDeliveryFrame(dst[:0], msg, sum, ids, 3)
	})
	if allocs != 0 {
		t.Errorf("AppendDeliveryFrame into a buffer with room: %v allocations, want 0", allocs)
	}
}
