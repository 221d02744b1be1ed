package wire

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// The hand-written field numbers match the generated descriptors.
func TestFastFieldNumbers(t *testing.T) {
	env := (&pb.Envelope{}).ProtoReflect().Descriptor().Fields()
	pub := (&pb.Publish{}).ProtoReflect().Descriptor().Fields()
	del := (&pb.Deliver{}).ProtoReflect().Descriptor().Fields()
	for _, c := range []struct {
		got  int
		want int32
		name string
	}{
		{envelopePublishField, int32(env.ByName("publish").Number()), "Envelope.publish"},
		{envelopeDeliverField, int32(env.ByName("deliver").Number()), "Envelope.deliver"},
		{publishTopicField, int32(pub.ByName("topic").Number()), "Publish.topic"},
		{publishPayloadField, int32(pub.ByName("payload").Number()), "Publish.payload"},
		{publishCorrelationField, int32(pub.ByName("correlation").Number()), "Publish.correlation"},
		{publishIDField, int32(pub.ByName("publish_id").Number()), "Publish.publish_id"},
		{deliverTopicField, int32(del.ByName("topic").Number()), "Deliver.topic"},
		{deliverPayloadField, int32(del.ByName("payload").Number()), "Deliver.payload"},
		{deliverTimestampField, int32(del.ByName("timestamp_unix_nano").Number()), "Deliver.timestamp_unix_nano"},
		{deliverPublisherField, int32(del.ByName("publisher").Number()), "Deliver.publisher"},
		{deliverCorrelationField, int32(del.ByName("correlation").Number()), "Deliver.correlation"},
		{deliverReplyToField, int32(del.ByName("reply_to").Number()), "Deliver.reply_to"},
	} {
		if int32(c.got) != c.want {
			t.Errorf("%s: hand-written field %d, descriptor says %d", c.name, c.got, c.want)
		}
	}
}

func randomCorrelation(r *rand.Rand) *pb.Correlation {
	if r.IntN(3) == 0 {
		return nil
	}
	return &pb.Correlation{CorrelationId: "c-1", Sequence: r.Uint64N(1 << 40), Tags: map[string]string{"k": "v"}}
}

// AppendPublishFrame writes what the generated code writes, and
// ParsePublish reads back what the generated code reads.
func TestPublishFastPathMatchesGenerated(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 500; i++ {
		p := &pb.Publish{Topic: "events.process.lifecycle", Payload: make([]byte, r.IntN(300)), PublishId: r.Uint64N(3)}
		for j := range p.Payload {
			p.Payload[j] = byte(r.IntN(256))
		}
		if r.IntN(5) == 0 {
			p.Topic = ""
		}
		p.Correlation = randomCorrelation(r)
		var corr []byte
		if p.Correlation != nil {
			var err error
			if corr, err = proto.Marshal(p.Correlation); err != nil {
				t.Fatal(err)
			}
		}
		want, err := CRCCastagnoli.AppendEnvelope(nil, &pb.Envelope{Kind: &pb.Envelope_Publish{Publish: p}})
		if err != nil {
			t.Fatal(err)
		}
		got := CRCCastagnoli.AppendPublishFrame(nil, p.Topic, p.Payload, corr, p.PublishId)
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d: fast frame\n%x\nwant\n%x", i, got, want)
		}
		v, ok := ParsePublish(want[HeaderSize:])
		if !ok {
			t.Fatalf("case %d: ParsePublish declined a plain publish", i)
		}
		if string(v.Topic) != p.Topic || !bytes.Equal(v.Payload, p.Payload) || v.PublishID != p.PublishId || !bytes.Equal(v.Correlation, corr) {
			t.Fatalf("case %d: parsed %+v from %v", i, v, p)
		}
	}
}

// ParsePublish declines whatever it does not fully understand, so the
// generated decoder decides.
func TestParsePublishDeclines(t *testing.T) {
	plain, _ := proto.Marshal(&pb.Envelope{Kind: &pb.Envelope_Publish{Publish: &pb.Publish{Topic: "a.b", Payload: []byte("x")}}})
	ping, _ := proto.Marshal(&pb.Envelope{Kind: &pb.Envelope_Ping{Ping: &pb.Ping{Nonce: 1}}})
	body := protowire.AppendString(protowire.AppendTag(nil, publishTopicField, protowire.BytesType), "a")
	body = protowire.AppendVarint(protowire.AppendTag(body, 9, protowire.VarintType), 1)
	unknownInPublish := protowire.AppendBytes(protowire.AppendTag(nil, envelopePublishField, protowire.BytesType), body)
	var check pb.Envelope
	if err := proto.Unmarshal(unknownInPublish, &check); err != nil || check.GetPublish().GetTopic() != "a" {
		t.Fatalf("test input is not a valid publish with an unknown field: %v", err)
	}
	twice := append(bytes.Clone(plain), plain...)
	nonASCII, _ := proto.Marshal(&pb.Envelope{Kind: &pb.Envelope_Publish{Publish: &pb.Publish{Topic: "é"}}})
	for name, msg := range map[string][]byte{
		"ping":                 ping,
		"unknown field (9)":    unknownInPublish,
		"two publishes":        twice,
		"non-ASCII topic":      nonASCII,
		"truncated":            plain[:len(plain)-1],
		"extra envelope field": append(bytes.Clone(plain), 0x50, 0x01),
	} {
		if _, ok := ParsePublish(msg); ok {
			t.Errorf("%s: ParsePublish accepted %x", name, msg)
		}
	}
	if _, ok := ParsePublish(plain); !ok {
		t.Fatal("a plain publish was declined")
	}
}

// AppendDeliverMessage writes exactly the generated encoding.
func TestDeliverFastPathMatchesGenerated(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 500; i++ {
		d := &pb.Deliver{Topic: "events.process.lifecycle", Payload: make([]byte, r.IntN(200)),
			TimestampUnixNano: r.Int64N(1 << 62), Correlation: randomCorrelation(r)}
		if r.IntN(2) == 0 {
			d.Publisher = &pb.Publisher{ClientName: "procmond", InstanceId: "i", SessionId: r.Uint64N(1000)}
		}
		if r.IntN(3) == 0 {
			d.ReplyTo = "0123456789abcdef"
		}
		parts := DeliverParts{Topic: d.Topic, Payload: d.Payload, TimestampUnixNano: d.TimestampUnixNano, ReplyTo: d.ReplyTo}
		if d.Publisher != nil {
			parts.Publisher, _ = proto.Marshal(d.Publisher)
		}
		if d.Correlation != nil {
			parts.Correlation, _ = proto.Marshal(d.Correlation)
		}
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(&pb.Envelope{Kind: &pb.Envelope_Deliver{Deliver: d}})
		if err != nil {
			t.Fatal(err)
		}
		got := AppendDeliverMessage(make([]byte, 0, DeliverMessageSize(&parts)), &parts)
		if len(got) != DeliverMessageSize(&parts) {
			t.Fatalf("case %d: size %d, wrote %d", i, DeliverMessageSize(&parts), len(got))
		}
		var back pb.Envelope
		if err := proto.Unmarshal(got, &back); err != nil || !proto.Equal(back.GetDeliver(), d) {
			t.Fatalf("case %d: fast deliver decodes to %v (%v), want %v", i, back.GetDeliver(), err, d)
		}
		if d.Correlation == nil && !bytes.Equal(got, want) {
			// With a correlation the map's encoding order may differ; without
			// one the bytes are identical.
			t.Fatalf("case %d: fast deliver\n%x\nwant\n%x", i, got, want)
		}
	}
}

func BenchmarkPublishFastPath(b *testing.B) {
	payload := make([]byte, 128)
	buf := make([]byte, 0, 4096)
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = CRCIEEE.AppendPublishFrame(buf[:0], "events.process.lifecycle", payload, nil, 0)
		}
	})
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		msg := buf[HeaderSize:]
		for b.Loop() {
			if _, ok := ParsePublish(msg); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("deliver", func(b *testing.B) {
		b.ReportAllocs()
		parts := DeliverParts{Topic: "events.process.lifecycle", Payload: payload, TimestampUnixNano: 1, Publisher: []byte{10, 8, 'p', 'r', 'o', 'c', 'm', 'o', 'n', 'd'}}
		out := make([]byte, 0, 4096)
		for b.Loop() {
			out = AppendDeliverMessage(out[:0], &parts)
		}
	})
}

// ParseDeliver reads every delivery frame AppendDeliveryFrame writes, with
// the same result as the generated decoder.
func TestParseDeliverMatchesGenerated(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 300; i++ {
		d := &pb.Deliver{Topic: "events.process.lifecycle", Payload: make([]byte, r.IntN(200)),
			TimestampUnixNano: r.Int64N(1 << 62), Correlation: randomCorrelation(r),
			Publisher: &pb.Publisher{ClientName: "procmond", SessionId: 7}}
		if r.IntN(3) == 0 {
			d.ReplyTo = "0123456789abcdef"
		}
		shared, sum, err := CRCIEEE.EncodeShared(&pb.Envelope{Kind: &pb.Envelope_Deliver{Deliver: d}})
		if err != nil {
			t.Fatal(err)
		}
		ids := []uint32{uint32(r.IntN(5) + 1), 1 << 31}[:1+r.IntN(2)]
		dropped := r.Uint64N(3)
		frame := CRCIEEE.AppendDeliveryFrame(nil, shared, sum, ids, dropped)
		msg := frame[HeaderSize:]
		v, ok := ParseDeliver(msg)
		if !ok {
			t.Fatalf("case %d: declined a delivery frame", i)
		}
		var env pb.Envelope
		if err := proto.Unmarshal(msg, &env); err != nil {
			t.Fatal(err)
		}
		got := env.GetDeliver()
		if string(v.Topic) != got.Topic || !bytes.Equal(v.Payload, got.Payload) || v.TimestampUnixNano != got.TimestampUnixNano ||
			string(v.ReplyTo) != got.ReplyTo || v.Dropped != env.GetDelivery().GetDroppedBefore() {
			t.Fatalf("case %d: view %+v, generated %v", i, v, &env)
		}
		if fmt := v.SubscriptionIDs(nil); len(fmt) != len(env.GetDelivery().GetSubscriptionIds()) || fmt[0] != ids[0] {
			t.Fatalf("case %d: ids %v, want %v", i, fmt, ids)
		}
		var pubGot pb.Publisher
		if err := proto.Unmarshal(v.Publisher, &pubGot); err != nil || !proto.Equal(&pubGot, got.Publisher) {
			t.Fatalf("case %d: publisher %v", i, &pubGot)
		}
	}
	ping, _ := proto.Marshal(&pb.Envelope{Kind: &pb.Envelope_Ping{Ping: &pb.Ping{Nonce: 1}}})
	if _, ok := ParseDeliver(ping); ok {
		t.Fatal("ParseDeliver accepted a ping")
	}
}

// Whatever the fast parsers accept, the generated decoder accepts too, with
// the same fields: the fast path never changes what a peer's bytes mean.
// The one exception is by design: the embedded Publisher and Correlation are
// returned still encoded, and their users must decode them; if the generated
// decoder refused the message, it is because one of those does not decode.
func FuzzFastParsers(f *testing.F) {
	f.Add(CRCIEEE.AppendPublishFrame(nil, "events.process.lifecycle", []byte("x"), nil, 3)[HeaderSize:])
	shared, sum, _ := CRCIEEE.EncodeShared(&pb.Envelope{Kind: &pb.Envelope_Deliver{Deliver: &pb.Deliver{Topic: "a.b", Payload: []byte("p"), ReplyTo: "t"}}})
	f.Add(CRCIEEE.AppendDeliveryFrame(nil, shared, sum, []uint32{1, 2}, 4)[HeaderSize:])
	f.Add([]byte{0x32, 0x00})
	f.Fuzz(func(t *testing.T, msg []byte) {
		var env pb.Envelope
		genErr := proto.Unmarshal(msg, &env)
		embeddedBad := func(parts ...[]byte) bool {
			for _, b := range parts {
				if proto.Unmarshal(b, new(pb.Correlation)) != nil || proto.Unmarshal(b, new(pb.Publisher)) != nil {
					return true
				}
			}
			return false
		}
		if v, ok := ParsePublish(msg); ok {
			if genErr != nil && embeddedBad(v.Correlation) {
				return
			}
			p := env.GetPublish()
			if genErr != nil || p == nil || p.Topic != string(v.Topic) || !bytes.Equal(p.Payload, v.Payload) || p.PublishId != v.PublishID {
				t.Fatalf("ParsePublish %+v, generated %v (%v)", v, &env, genErr)
			}
		}
		if v, ok := ParseDeliver(msg); ok {
			if genErr != nil && embeddedBad(v.Publisher, v.Correlation) {
				return
			}
			d := env.GetDeliver()
			if genErr != nil || d == nil || d.Topic != string(v.Topic) || !bytes.Equal(d.Payload, v.Payload) ||
				d.ReplyTo != string(v.ReplyTo) || d.TimestampUnixNano != v.TimestampUnixNano ||
				len(v.SubscriptionIDs(nil)) != len(env.GetDelivery().GetSubscriptionIds()) {
				t.Fatalf("ParseDeliver %+v, generated %v (%v)", v, &env, genErr)
			}
		}
	})
}
