//go:build unix

package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/daemoneye/eventbus/client"
	"github.com/daemoneye/eventbus/internal/benchfmt"
	"github.com/daemoneye/eventbus/wire"
)

// dial connects a bench client. A lost connection ends it: reconnecting
// would hide the failure in the numbers.
func dial(ctx context.Context, cfg roleConfig) (*client.Client, error) {
	log := childLogger(cfg)
	return client.Dial(ctx, client.Options{
		Endpoint:      cfg.socket,
		Name:          cfg.name,
		Wire:          wire.Config{CRC: cfg.crc},
		WhenFull:      client.Block,
		ReuseMessages: cfg.reuse,
		Reconnect:     client.Reconnect{Disabled: true},
		OnError:       func(err error) { log.Warn("broker reported an error", "err", err) },
		Logger:        log,
	})
}

// runPub publishes cfg.count messages on cfg.topic once told to go, paced
// at cfg.rate or as fast as the client takes them. The last one is
// confirmed: when the broker acknowledges it, it has routed all of them.
func runPub(ctx context.Context, cfg roleConfig, cio *childIO) (*roleResult, error) {
	if cfg.index >= maxPublishers || cfg.count < 1 || cfg.size < payloadHeader {
		return nil, fmt.Errorf("bad publisher settings: index %d, count %d, size %d", cfg.index, cfg.count, cfg.size)
	}
	c, err := dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	cio.send(message{Event: evReady})
	if err := cio.waitGo(ctx); err != nil {
		return nil, err
	}
	var sent atomic.Int64
	stop := cio.reportProgress(sent.Load)
	defer stop()
	// Publish encodes the event into the client's outbound buffer before it
	// returns, so one payload buffer serves every message.
	payload := make([]byte, cfg.size)
	pace := newPacer(cfg.rate)
	start := time.Now()
	for i := range cfg.count {
		pace.wait(ctx, i)
		var now int64
		if cfg.rate > 0 {
			// Paced sends carry their send time for the latency; a
			// throughput run does not read the clock per message.
			now = time.Now().UnixNano()
		}
		stamp(payload, cfg.index, i, now)
		if i == cfg.count-1 {
			_, err = c.PublishConfirmed(ctx, cfg.topic, payload)
		} else {
			err = c.Publish(ctx, cfg.topic, payload)
		}
		if err != nil {
			return nil, fmt.Errorf("publish %d of %d: %w", i+1, cfg.count, err)
		}
		sent.Store(i + 1)
	}
	return &roleResult{Sent: cfg.count, StartNs: start.UnixNano(), EndNs: time.Now().UnixNano()}, nil
}

// runSub subscribes to cfg.topic and counts messages until it has
// cfg.count of them, or the publishers are done and it went quiet.
func runSub(ctx context.Context, cfg roleConfig, cio *childIO) (*roleResult, error) {
	c, err := dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	t := newTally(cfg.latency, cfg.count)
	// Handlers run one at a time, on the client's reader or dispatcher.
	if _, err := c.SubscribeContext(ctx, cfg.topic, func(m *client.Message) {
		t.observe(m.Payload, m.Dropped, t.now())
	}); err != nil {
		return nil, err
	}
	cio.send(message{Event: evReady})
	if err := t.await(ctx, cio, cfg.count, cfg.quiet, c.Done()); err != nil {
		return nil, err
	}
	if err := c.Err(); err != nil {
		childLogger(cfg).Warn("connection lost before the end", "err", err)
	}
	c.Close() // waits for the dispatcher: the tally is complete
	return t.result()
}

// runResp answers every request on cfg.topic with its payload until told
// to stop.
func runResp(ctx context.Context, cfg roleConfig, cio *childIO) (*roleResult, error) {
	c, err := dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	log := childLogger(cfg)
	var answered atomic.Int64
	if _, err := c.SubscribeContext(ctx, cfg.topic, func(m *client.Message) {
		if err := m.Respond(m.Payload); err != nil {
			log.Warn("respond", "err", err)
			return
		}
		answered.Add(1)
	}); err != nil {
		return nil, err
	}
	cio.send(message{Event: evReady})
	select {
	case <-ctx.Done():
	case <-c.Done():
		return nil, c.Err()
	}
	return &roleResult{Sent: answered.Load()}, nil
}

// runReq makes cfg.count sequential requests on cfg.topic once told to go
// and records each round trip.
func runReq(ctx context.Context, cfg roleConfig, cio *childIO) (*roleResult, error) {
	c, err := dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	cio.send(message{Event: evReady})
	if err := cio.waitGo(ctx); err != nil {
		return nil, err
	}
	var done atomic.Int64
	stop := cio.reportProgress(done.Load)
	defer stop()
	hist := benchfmt.NewHistogram()
	payload := make([]byte, cfg.size)
	res := &roleResult{}
	start := time.Now()
	for i := range cfg.count {
		t0 := time.Now()
		stamp(payload, 0, i, t0.UnixNano())
		reply, err := c.Request(ctx, cfg.topic, payload)
		if err != nil {
			return nil, fmt.Errorf("request %d of %d: %w", i+1, cfg.count, err)
		}
		if benchfmt.RecordNanos(hist, time.Since(t0).Nanoseconds()) {
			res.Clamped++
		}
		if len(reply.Payload) != len(payload) {
			res.Bad++
		}
		done.Store(i + 1)
	}
	res.Sent, res.Received = cfg.count, cfg.count
	res.StartNs, res.EndNs = start.UnixNano(), time.Now().UnixNano()
	enc, err := hist.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil, fmt.Errorf("encode histogram: %w", err)
	}
	res.Hist = string(enc)
	return res, nil
}

// pacer spaces sends at a fixed rate from its first wait. A sender that
// falls behind catches up without sleeping; its payloads carry the actual
// send time.
type pacer struct {
	interval time.Duration
	start    time.Time
}

func newPacer(rate int) *pacer {
	if rate <= 0 {
		return &pacer{}
	}
	return &pacer{interval: time.Second / time.Duration(rate)}
}

// wait sleeps until send i is due; it returns early when ctx ends.
func (p *pacer) wait(ctx context.Context, i int64) {
	if p.interval == 0 {
		return
	}
	if i == 0 {
		p.start = time.Now()
		return
	}
	d := time.Until(p.start.Add(time.Duration(i) * p.interval))
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
