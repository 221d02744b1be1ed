package client

import (
	"context"
	"errors"
	"testing"

	"github.com/daemoneye/eventbus/wire"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// testOutbox is an outbox of a client that never connects: these tests
// drive the writer's side by hand.
func testOutbox(t *testing.T, opts Options) *outbox {
	t.Helper()
	opts.Name = "test"
	opts, err := opts.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{opts: opts, crc: opts.Wire.CRC}
	c.maxMsg.Store(wire.DefaultMaxFrameSize)
	c.out = newOutbox(c)
	return c.out
}

func pubEnv(name string) *pb.Envelope {
	return &pb.Envelope{Kind: &pb.Envelope_Publish{Publish: &pb.Publish{Topic: name}}}
}

// topics decodes the frames of b.
func topics(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	for len(b) > 0 {
		n := int(b[0]) | int(b[1])<<8 | int(b[2])<<16 | int(b[3])<<24
		env := new(pb.Envelope)
		if err := wire.DecodeEnvelope(b[frameHeader:frameHeader+n], env); err != nil {
			t.Fatal(err)
		}
		switch {
		case env.GetPublish() != nil:
			out = append(out, env.GetPublish().Topic)
		case env.GetPing() != nil:
			out = append(out, "ping")
		}
		b = b[frameHeader+n:]
	}
	return out
}

func TestOutboxPartialWrite(t *testing.T) {
	o := testOutbox(t, Options{})
	ctx := context.Background()
	keys := []waitKey{{waitPubAck, 1}, {waitPubAck, 2}, {waitPubAck, 3}}
	for i, name := range []string{"a", "b", "c"} {
		if err := o.send(ctx, pubEnv(name), keys[i]); err != nil {
			t.Fatal(err)
		}
	}
	l := &link{epoch: 1, maxMsg: wire.DefaultMaxFrameSize}
	batch, recs, dropped := o.take(l)
	if len(dropped) != 0 || len(recs) != 3 {
		t.Fatalf("take: %d frames, %d dropped", len(recs), len(dropped))
	}
	if err := o.send(ctx, pubEnv("d"), waitKey{}); err != nil {
		t.Fatal(err)
	}
	// The connection took a, and half of b, then failed.
	n := recs[0].size + recs[1].size/2
	got := o.written(batch, recs, n, nil)
	if len(got) != 1 || got[0] != keys[0] {
		t.Errorf("written keys %v; want only a's", got)
	}
	// b and c go again, whole, before d.
	if tp := topics(t, o.buf); len(tp) != 3 || tp[0] != "b" || tp[1] != "c" || tp[2] != "d" {
		t.Errorf("queued after the failed write: %v; want [b c d]", tp)
	}
	if len(o.recs) != 3 || o.flyMsgs != 0 || o.flyBytes != 0 {
		t.Errorf("%d records, %d in flight", len(o.recs), o.flyMsgs)
	}
}

func TestOutboxSessionFrames(t *testing.T) {
	o := testOutbox(t, Options{})
	ctx := context.Background()
	ping := &pb.Envelope{Kind: &pb.Envelope_Ping{Ping: &pb.Ping{Nonce: 1}}}
	must(t, o.sendSession(ping, 1))
	must(t, o.send(ctx, pubEnv("a"), waitKey{}))
	must(t, o.sendSession(ping, 2))
	must(t, o.send(ctx, pubEnv("b"), waitKey{waitPubAck, 9}))

	// The second connection drops the first one's ping.
	batch, recs, _ := o.take(&link{epoch: 2, maxMsg: wire.DefaultMaxFrameSize})
	if tp := topics(t, batch); len(tp) != 3 || tp[0] != "a" || tp[1] != "ping" || tp[2] != "b" {
		t.Errorf("taken for connection 2: %v; want [a ping b]", tp)
	}
	o.written(batch, recs, 0, nil) // nothing written: all back

	// A failed connection's session frames go; data stays.
	o.dropSession()
	if tp := topics(t, o.buf); len(tp) != 2 || tp[0] != "a" || tp[1] != "b" {
		t.Errorf("after dropSession: %v; want [a b]", tp)
	}
	// A frame someone gave up on is withdrawn while still queued.
	if !o.withdraw(waitKey{waitPubAck, 9}) || o.withdraw(waitKey{waitPubAck, 9}) {
		t.Error("withdraw did not remove the frame exactly once")
	}
	if tp := topics(t, o.buf); len(tp) != 1 || tp[0] != "a" {
		t.Errorf("after withdraw: %v; want [a]", tp)
	}
	// A new connection with a smaller frame limit cannot take a big frame.
	must(t, o.send(ctx, &pb.Envelope{Kind: &pb.Envelope_Publish{Publish: &pb.Publish{Topic: "big", Payload: make([]byte, 2000)}}}, waitKey{}))
	batch, _, dropped := o.take(&link{epoch: 3, maxMsg: 1024})
	if tp := topics(t, batch); len(dropped) != 1 || len(tp) != 1 || tp[0] != "a" {
		t.Errorf("taken with a 1 KiB limit: %v, %d dropped; want [a] and the big one dropped", tp, len(dropped))
	}
}

func TestOutboxBounds(t *testing.T) {
	o := testOutbox(t, Options{MaxPendingMessages: 2, WhenFull: FailFast})
	ctx := context.Background()
	must(t, o.send(ctx, pubEnv("a"), waitKey{}))
	batch, recs, _ := o.take(&link{epoch: 1, maxMsg: wire.DefaultMaxFrameSize})
	must(t, o.send(ctx, pubEnv("b"), waitKey{}))
	// a is being written: it still counts.
	if err := o.send(ctx, pubEnv("c"), waitKey{}); !errors.Is(err, ErrBufferFull) {
		t.Errorf("third frame with one in flight: %v; want ErrBufferFull", err)
	}
	// Pings pass the bounds.
	must(t, o.sendSession(&pb.Envelope{Kind: &pb.Envelope_Ping{Ping: &pb.Ping{}}}, 1))
	o.written(batch, recs, len(batch), nil)
	if err := o.send(ctx, pubEnv("c"), waitKey{}); !errors.Is(err, ErrBufferFull) {
		t.Errorf("with b and a ping queued: %v; want ErrBufferFull", err)
	}
	o.dropSession()
	must(t, o.send(ctx, pubEnv("c"), waitKey{}))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
