package client

import (
	"context"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// HeartbeatTopic is where StartHeartbeat publishes.
const HeartbeatTopic = "control.health.heartbeat"

// StartHeartbeat publishes a pb.Heartbeat on HeartbeatTopic at once and then
// every interval, until stop is called or the client ends. Each beat
// carries the client's name and instance id, a sequence number that grows
// by one per beat published (from 1), interval in milliseconds, the status
// word and details that status returns (nil status means "ok"; an empty
// word too), the time it was sent and the current session id.
//
// Heartbeats survive reconnections. While the client is not connected,
// beats are skipped rather than buffered: a beat only means something when
// it is fresh. A beat is given at most interval to find room in the
// outbound buffer; one that cannot is skipped and logged. status runs on
// the heartbeat goroutine and must return promptly.
//
// stop ends the heartbeat and waits for its goroutine; calling it again
// does nothing. StartHeartbeat panics when interval is not positive.
func (c *Client) StartHeartbeat(interval time.Duration, status func() (status string, details map[string]string)) (stop func()) {
	if interval <= 0 {
		panic("client: StartHeartbeat needs a positive interval")
	}
	ctx, cancel := context.WithCancel(c.ctx)
	finished := make(chan struct{})
	c.mu.Lock()
	if c.usableLocked() != nil {
		// Close waits for the client's goroutines: none may start now.
		c.mu.Unlock()
		cancel()
		return func() {}
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		defer close(finished)
		c.heartbeatLoop(ctx, interval, status)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-finished
		})
	}
}

func (c *Client) heartbeatLoop(ctx context.Context, interval time.Duration, status func() (string, map[string]string)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var seq uint64
	for {
		if c.State() == Connected && c.beat(ctx, interval, seq+1, status) {
			seq++
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// beat publishes heartbeat number seq; it reports whether it was queued.
func (c *Client) beat(ctx context.Context, interval time.Duration, seq uint64, status func() (string, map[string]string)) bool {
	word, details := "ok", map[string]string(nil)
	if status != nil {
		if word, details = status(); word == "" {
			word = "ok"
		}
	}
	payload, err := proto.Marshal(&pb.Heartbeat{
		Collector:    c.opts.Name,
		InstanceId:   c.opts.InstanceID,
		Sequence:     seq,
		IntervalMs:   timeoutMillis(interval),
		Status:       word,
		Details:      details,
		SentUnixNano: time.Now().UnixNano(),
		SessionId:    c.SessionID(),
	})
	if err != nil {
		c.log.Error("cannot encode heartbeat", "err", err)
		return false
	}
	pctx, cancel := context.WithTimeout(ctx, interval)
	defer cancel()
	if err := c.Publish(pctx, HeartbeatTopic, payload); err != nil {
		if ctx.Err() == nil { // not stopping
			c.log.Warn("heartbeat skipped", "sequence", seq, "err", err)
		}
		return false
	}
	return true
}
