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

	"github.com/daemoneye/eventbus/wire"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// rawBatch is how many bytes the raw publisher gathers before a write when
// it is not paced, like the broker's writer batching what is queued.
const rawBatch = 64 << 10

// relayBuffer is the relay's copy buffer.
const relayBuffer = 64 << 10

// runRawPub dials cfg.addr and, once told to go, writes cfg.count Deliver
// frames, each encoded with package wire as the broker would deliver them
// to one subscription. Unpaced it batches frames into writes of about
// rawBatch bytes; paced, it writes each frame when due.
func runRawPub(ctx context.Context, cfg roleConfig, cio *childIO) (*roleResult, error) {
	if cfg.count < 1 || cfg.size < payloadHeader {
		return nil, fmt.Errorf("bad publisher settings: count %d, size %d", cfg.count, cfg.size)
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
	deliver := &pb.Deliver{
		Topic:     cfg.topic,
		Payload:   payload,
		Publisher: &pb.Publisher{ClientName: "procmond", InstanceId: fmt.Sprintf("bench-%d", os.Getpid()), SessionId: 1},
	}
	env := &pb.Envelope{
		Kind:     &pb.Envelope_Deliver{Deliver: deliver},
		Delivery: &pb.DeliveryInfo{SubscriptionIds: []uint32{1}},
	}
	crc := cfg.crc
	buf := make([]byte, 0, rawBatch+cfg.size+512)
	pace := newPacer(cfg.rate)
	start := time.Now()
	for i := range cfg.count {
		pace.wait(ctx, i)
		now := time.Now().UnixNano()
		stamp(payload, cfg.index, i, now)
		deliver.TimestampUnixNano = now
		if buf, err = crc.AppendEnvelope(buf, env); err != nil {
			return nil, err
		}
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

// runRawSub listens on cfg.addr, accepts one connection and reads frames
// from it with wire.Reader, decoding each, until it has cfg.count, the
// stream ends, or the senders are done and it went quiet.
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

	t := newTally(cfg.latency)
	ended := make(chan struct{})
	var readErr error
	go func() {
		defer close(ended)
		r := wire.NewReader(conn, wire.Config{CRC: cfg.crc})
		var env pb.Envelope
		for {
			msg, err := r.ReadFrame()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
					readErr = err
				}
				return
			}
			if err := wire.DecodeEnvelope(msg, &env); err != nil {
				readErr = err
				return
			}
			t.observe(env.GetDeliver().GetPayload(), env.GetDelivery().GetDroppedBefore(), time.Now().UnixNano())
		}
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
