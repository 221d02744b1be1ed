//go:build unix

package main

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/wire"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// rawSizes are payload sizes around the varint boundaries of the lengths,
// up to the largest -size.
var rawSizes = []int{payloadHeader, 111, 128, 4096, 16383, 16384, maxSize}

// The raw publisher's hand-built frames are the bytes the broker delivers
// for the same event, and decode to the Envelope the generated code would
// have sent, in a frame of the same length.
func TestRawFramesMatchGenerated(t *testing.T) {
	publisher := rawPublisher()
	pub, err := proto.Marshal(publisher)
	if err != nil {
		t.Fatal(err)
	}
	for _, crc := range []wire.CRC{wire.CRCIEEE, wire.CRCCastagnoli} {
		for _, size := range rawSizes {
			payload := make([]byte, size)
			frames := newRawFrames(crc, "events.process.bench", payload, pub)
			prefix := []byte("earlier frames")
			for i, now := range []int64{1, 1_700_000_000_123_456_789, 1<<63 - 1} {
				stamp(payload, 3, int64(i), now)
				for j := payloadHeader; j < size; j++ {
					payload[j] = byte(j*7 + i)
				}
				deliver := &pb.Envelope{Kind: &pb.Envelope_Deliver{Deliver: &pb.Deliver{
					Topic: "events.process.bench", Payload: payload, TimestampUnixNano: now, Publisher: publisher,
				}}}
				got := frames.appendFrame(bytes.Clone(prefix), now)
				if !bytes.Equal(got[:len(prefix)], prefix) {
					t.Fatalf("%s, size %d: the earlier bytes changed", crc, size)
				}
				got = got[len(prefix):]

				// What the broker's generic path writes: the Deliver marshalled
				// by the generated code, then the receiver's suffix.
				shared, sum, err := crc.EncodeShared(deliver)
				if err != nil {
					t.Fatal(err)
				}
				broker := crc.AppendDeliveryFrame(nil, shared, sum, []uint32{rawSubscriptionID}, 0)
				if !bytes.Equal(got, broker) {
					t.Fatalf("%s, size %d, time %d: frame differs from the broker's\n got %x\nwant %x",
						crc, size, now, head(got), head(broker))
				}

				// The generated code writes DeliveryInfo first; the content and
				// the length are the same.
				env := proto.Clone(deliver).(*pb.Envelope)
				env.Delivery = &pb.DeliveryInfo{SubscriptionIds: []uint32{rawSubscriptionID}}
				generated, err := crc.AppendEnvelope(nil, env)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(generated) {
					t.Errorf("%s, size %d: frame of %d bytes, the generated one has %d", crc, size, len(got), len(generated))
				}
				msg, err := wire.NewReader(bytes.NewReader(got), wire.Config{CRC: crc}).ReadFrame()
				if err != nil {
					t.Fatalf("%s, size %d: %v", crc, size, err)
				}
				var back pb.Envelope
				if err := wire.DecodeEnvelope(msg, &back); err != nil || !proto.Equal(&back, env) {
					t.Fatalf("%s, size %d, time %d: does not decode to the generated envelope (%v)", crc, size, now, err)
				}
			}
		}
	}
}

func head(b []byte) []byte { return b[:min(len(b), 96)] }

func TestRawFramesAllocateNothing(t *testing.T) {
	pub, err := proto.Marshal(rawPublisher())
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 128)
	frames := newRawFrames(wire.CRCCastagnoli, "events.process.bench", payload, pub)
	buf := make([]byte, 0, 4096)
	now := int64(1_700_000_000_000_000_000)
	allocs := testing.AllocsPerRun(1000, func() {
		now++
		stamp(payload, 0, now, now)
		buf = frames.appendFrame(buf[:0], now)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per frame, want 0", allocs)
	}
}

// The raw subscriber tallies what the raw publisher writes, with a fixed
// number of allocations however many frames it reads.
func TestReadDeliveries(t *testing.T) {
	pub, err := proto.Marshal(rawPublisher())
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	payload := make([]byte, 128)
	frames := newRawFrames(wire.CRCIEEE, "events.process.bench", payload, pub)
	var stream []byte
	for i := range int64(n) {
		stamp(payload, 0, i, 1_700_000_000_000_000_000+i)
		stream = frames.appendFrame(stream, 1_700_000_000_000_000_000+i)
	}
	var tl *tally
	allocs := testing.AllocsPerRun(5, func() {
		tl = newTally(true, 0)
		if err := readDeliveries(wire.NewReader(bytes.NewReader(stream), wire.Config{}), tl); err != nil {
			t.Fatal(err)
		}
	})
	res, err := tl.result()
	if err != nil {
		t.Fatal(err)
	}
	if res.Received != n || res.Gaps != 0 || res.Dups != 0 || res.Bad != 0 || res.Dropped != 0 {
		t.Errorf("received %d gaps %d dups %d bad %d dropped %d, want %d and zeros",
			res.Received, res.Gaps, res.Dups, res.Bad, res.Dropped, n)
	}
	// The reader, its buffer, the tally and its histogram: a few, not one
	// or more per frame.
	if allocs > 20 {
		t.Errorf("%v allocations to read %d frames", allocs, n)
	}

	ping, err := wire.CRCIEEE.AppendEnvelope(nil, &pb.Envelope{Kind: &pb.Envelope_Ping{Ping: &pb.Ping{}}})
	if err != nil {
		t.Fatal(err)
	}
	err = readDeliveries(wire.NewReader(bytes.NewReader(ping), wire.Config{}), newTally(false, 0))
	if !errors.Is(err, errNotDeliver) || !errors.Is(err, wire.ErrBadMessage) {
		t.Errorf("a ping: %v, want %v", err, errNotDeliver)
	}
}
