//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/wire"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// rawBatch is how many bytes the raw publisher gathers before a write when
// it is not paced: the broker writer's flush size, so that the floor makes
// no more write calls than the broker would for the same bytes.
const rawBatch = 256 << 10

// relayBuffer is the relay's copy buffer, which bounds both its reads and
// its writes. The broker reads through 128 KiB (wire.Reader) and flushes
// its writes at 256 KiB; a buffer of the larger size keeps the relay from
// needing smaller, and so more, reads or writes than the broker for the
// same bytes.
const relayBuffer = 256 << 10

// rawSubscriptionID is the one subscription every raw delivery is for.
const rawSubscriptionID = 1

// rawFrames builds the delivery frames of the raw publisher the way the
// broker builds those it writes to a subscription (newEvent, writeBatch):
// the Deliver message encoded by hand with package wire, its checksum, then
// the frame with the receiver's DeliveryInfo. Its buffers are reused, so a
// frame costs no allocation: the floor must not do more per message than
// the broker does, or it would not bound the broker's cost from below.
type rawFrames struct {
	crc   wire.CRC
	parts wire.DeliverParts
	sids  []uint32
	msg   []byte // the Deliver message of the frame being built
}

// newRawFrames returns a builder of frames carrying payload on topic from
// the publisher pub (encoded). payload is read at every append, so the
// caller may rewrite it between frames.
func newRawFrames(crc wire.CRC, topic string, payload, pub []byte) *rawFrames {
	f := &rawFrames{
		crc:   crc,
		parts: wire.DeliverParts{Topic: topic, Payload: payload, Publisher: pub},
		sids:  []uint32{rawSubscriptionID},
	}
	// The timestamp's varint is at most 10 bytes: room for any frame.
	f.parts.TimestampUnixNano = -1
	f.msg = make([]byte, 0, wire.DeliverMessageSize(&f.parts))
	return f
}

// appendFrame appends the frame of the current payload, sent at nowNs, to
// dst.
func (f *rawFrames) appendFrame(dst []byte, nowNs int64) []byte {
	f.parts.TimestampUnixNano = nowNs
	f.msg = wire.AppendDeliverMessage(f.msg[:0], &f.parts)
	return f.crc.AppendDeliveryFrame(dst, f.msg, f.crc.Checksum(f.msg), f.sids, 0)
}

// rawPublisher is who the raw frames say published them, like the broker's
// record of a publishing session.
func rawPublisher() *pb.Publisher {
	return &pb.Publisher{ClientName: "procmond", InstanceId: fmt.Sprintf("bench-%d", os.Getpid()), SessionId: 1}
}

// runRawPub dials cfg.addr and, once told to go, writes cfg.count Deliver
// frames, each built as the broker builds a delivery to one subscription
// (see rawFrames). Unpaced it batches frames into writes of about rawBatch
// bytes; paced, it writes each frame when due.
func runRawPub(ctx context.Context, cfg roleConfig, cio *childIO) (*roleResult, error) {
	if cfg.count < 1 || cfg.size < payloadHeader {
		return nil, fmt.Errorf("bad publisher settings: count %d, size %d", cfg.count, cfg.size)
	}
	pub, err := proto.Marshal(rawPublisher())
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", cfg.addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stopOnCancel(ctx, conn)
	cio.send(message{Event: evReady})
	if err := cio.waitGo(ctx); err != nil {
		return nil, err
	}
	var sent atomic.Int64
	stop := cio.reportProgress(sent.Load)
	defer stop()

	payload := make([]byte, cfg.size)
	frames := newRawFrames(cfg.crc, cfg.topic, payload, pub)
	// Room for a whole batch plus the frame that crosses rawBatch, so that
	// appending never grows the buffer.
	buf := make([]byte, 0, rawBatch+cap(frames.msg)+wire.HeaderSize+wire.MaxDeliverySuffix(len(frames.sids)))
	pace := newPacer(cfg.rate)
	start := time.Now()
	var now, sentNs int64
	for i := range cfg.count {
		pace.wait(ctx, i)
		// As in the bus: a paced send carries its send time, and the
		// broker stamps events once per batch it reads, not per event.
		if cfg.rate > 0 {
			now = time.Now().UnixNano()
			sentNs = now
		} else if len(buf) == 0 {
			now = time.Now().UnixNano()
		}
		stamp(payload, cfg.index, i, sentNs)
		buf = frames.appendFrame(buf, now)
		if cfg.rate > 0 || len(buf) >= rawBatch || i == cfg.count-1 {
			if _, err := conn.Write(buf); err != nil {
				return nil, fmt.Errorf("write after %d frames: %w", i, err)
			}
			buf = buf[:0]
			sent.Store(i + 1)
		}
	}
	end := time.Now()
	return &roleResult{Sent: cfg.count, StartNs: start.UnixNano(), EndNs: end.UnixNano()}, nil
}

// errNotDeliver reports a frame the raw subscriber cannot take: the raw
// publisher writes nothing but deliveries.
var errNotDeliver = fmt.Errorf("%w: frame is not a delivery", wire.ErrBadMessage)

// runRawSub listens on cfg.addr, accepts one connection and reads frames
// from it with wire.Reader, parsing each with wire.ParseDeliver as the
// bus's client does, until it has cfg.count, the stream ends, or the
// senders are done and it went quiet. It copies nothing out of the read
// buffer and allocates nothing per message, so it does less than the
// client, which also builds a Message and hands it to a handler.
func runRawSub(ctx context.Context, cfg roleConfig, cio *childIO) (*roleResult, error) {
	ln, err := listenUnix(cfg.addr)
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	stopOnCancel(ctx, ln)
	cio.send(message{Event: evReady})
	conn, err := ln.Accept()
	if err != nil {
		return nil, fmt.Errorf("accept: %w", errors.Join(context.Cause(ctx), err))
	}
	defer conn.Close()
	stopOnCancel(ctx, conn)

	t := newTally(cfg.latency, cfg.count)
	ended := make(chan struct{})
	var readErr error
	go func() {
		defer close(ended)
		readErr = readDeliveries(wire.NewReader(conn, wire.Config{CRC: cfg.crc}), t)
	}()
	err = t.await(ctx, cio, cfg.count, cfg.quiet, ended)
	conn.Close()
	<-ended
	if err != nil {
		return nil, err
	}
	if readErr != nil {
		return nil, readErr
	}
	return t.result()
}

// readDeliveries tallies the deliveries r reads until the stream ends,
// which is not an error, or a frame fails to read or is not a delivery.
func readDeliveries(r *wire.Reader, t *tally) error {
	for {
		msg, err := r.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		v, ok := wire.ParseDeliver(msg)
		if !ok {
			return errNotDeliver
		}
		t.observe(v.Payload, v.Dropped, t.now())
	}
}

// runRelay listens on cfg.addr and dials cfg.to, then copies everything
// from the first connection it accepts to cfg.to through a user-space
// buffer, and closes its writing side when the input ends.
func runRelay(ctx context.Context, cfg roleConfig, cio *childIO) (*roleResult, error) {
	ln, err := listenUnix(cfg.addr)
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	stopOnCancel(ctx, ln)
	var d net.Dialer
	out, err := d.DialContext(ctx, "unix", cfg.to)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	stopOnCancel(ctx, out)
	cio.send(message{Event: evReady})
	in, err := ln.Accept()
	if err != nil {
		return nil, fmt.Errorf("accept: %w", errors.Join(context.Cause(ctx), err))
	}
	defer in.Close()
	stopOnCancel(ctx, in)
	// Neither side has ReadFrom or WriteTo (net.UnixConn's are the packet
	// kind), so CopyBuffer copies through buf: a plain read-write relay.
	n, err := io.CopyBuffer(out, in, make([]byte, relayBuffer))
	if err != nil {
		return nil, fmt.Errorf("relay after %d bytes: %w", n, errors.Join(context.Cause(ctx), err))
	}
	if err := out.(*net.UnixConn).CloseWrite(); err != nil {
		return nil, err
	}
	return &roleResult{Sent: n}, nil
}

func listenUnix(path string) (net.Listener, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	return ln, nil
}

// stopOnCancel closes c when ctx ends, to end blocked accepts, reads and
// writes.
func stopOnCancel(ctx context.Context, c io.Closer) {
	context.AfterFunc(ctx, func() { c.Close() })
}
