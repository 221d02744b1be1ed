package client

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/daemoneye/eventbus/topic"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// Request publishes payload on topic as a request and waits for the first
// reply of a subscriber (one that calls Message.Respond). It returns the
// reply as a Message: Topic is the request's topic, Publisher the
// responder, and Payload and Correlation the reply's.
//
// The broker keeps the request open until ctx's deadline, or for
// Options.ReplyTimeout when ctx has none (it may cap that). The error wraps
// ErrNoResponders, at once, when no subscription matches topic, and
// ErrNoReply (with context.DeadlineExceeded, or ctx's error) when nobody
// answered in time. A refusal is a *BrokerError. Across a lost connection
// Request behaves like PublishConfirmed: a request still buffered is sent
// on the next connection, one already written fails with an error wrapping
// ErrNotConnected.
func (c *Client) Request(ctx context.Context, name string, payload []byte, opts ...PublishOption) (*Message, error) {
	if err := topic.ValidateName(name); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadTopic, err)
	}
	ctx, cancel := c.replyContext(ctx)
	defer cancel()
	deadline, _ := ctx.Deadline()
	timeout := time.Until(deadline)
	id := c.nextRequestID.Add(1)
	ans, err := c.request(ctx, waitKey{waitRequest, id}, &pb.Envelope{Kind: &pb.Envelope_Request{Request: &pb.Request{
		RequestId:   id,
		Topic:       name,
		Payload:     payload,
		Correlation: correlationOf(opts),
		TimeoutMs:   timeoutMillis(timeout),
	}}})
	if err != nil {
		return nil, err
	}
	if e := ans.GetError(); e != nil {
		switch e.Code {
		case pb.ErrorCode_ERROR_CODE_NO_RESPONDERS:
			return nil, fmt.Errorf("%w for %s", ErrNoResponders, name)
		case pb.ErrorCode_ERROR_CODE_TIMEOUT:
			return nil, fmt.Errorf("%w: nobody answered %s within %v: %w", ErrNoReply, name, timeout.Round(time.Millisecond), context.DeadlineExceeded)
		}
		return nil, brokerError(e)
	}
	r := ans.GetResponse()
	if r == nil {
		return nil, fmt.Errorf("client: broker answered a request with %T", ans.Kind)
	}
	return &Message{
		Topic:       name,
		Payload:     r.Payload,
		Time:        time.Now(),
		Publisher:   publisherOf(r.Responder),
		Correlation: r.Correlation,
	}, nil
}

// timeoutMillis turns what is left of a deadline into a request's
// timeout_ms: rounded up, at least 1 (0 would mean the broker's default).
func timeoutMillis(d time.Duration) uint32 {
	ms := (d + time.Millisecond - 1) / time.Millisecond
	return uint32(min(max(ms, 1), math.MaxUint32))
}

// Stats asks the broker for its statistics: broker-wide counters, every
// session's and the busiest topics'. It is an admin request: other
// principals get a *BrokerError (NOT_AUTHORIZED). The wait is bounded by
// ctx, or by Options.ReplyTimeout when ctx has no deadline.
func (c *Client) Stats(ctx context.Context) (*pb.StatsReply, error) {
	ctx, cancel := c.replyContext(ctx)
	defer cancel()
	id := c.nextRequestID.Add(1)
	env, err := c.request(ctx, waitKey{waitRequest, id}, &pb.Envelope{Kind: &pb.Envelope_StatsRequest{
		StatsRequest: &pb.StatsRequest{RequestId: id},
	}})
	if err != nil {
		return nil, err
	}
	if e := env.GetError(); e != nil {
		return nil, brokerError(e)
	}
	r := env.GetStatsReply()
	if r == nil {
		return nil, fmt.Errorf("client: broker answered a stats request with %T", env.Kind)
	}
	return r, nil
}

// ListSubscriptions asks the broker for this session's subscriptions, or with
// all set for every session's (a privileged request).
func (c *Client) ListSubscriptions(ctx context.Context, all bool) ([]*pb.SessionSubscriptions, error) {
	ctx, cancel := c.replyContext(ctx)
	defer cancel()
	id := c.nextRequestID.Add(1)
	env, err := c.request(ctx, waitKey{waitRequest, id}, &pb.Envelope{Kind: &pb.Envelope_ListSubscriptions{
		ListSubscriptions: &pb.ListSubscriptions{AllSessions: all, RequestId: id},
	}})
	if err != nil {
		return nil, err
	}
	if e := env.GetError(); e != nil {
		return nil, brokerError(e)
	}
	return env.GetSubscriptionList().GetSessions(), nil
}

// DisconnectSession asks the broker to end another session, telling it
// reason. It is an admin request: other principals get a *BrokerError. A
// Go client disconnected this way does not reconnect.
func (c *Client) DisconnectSession(ctx context.Context, sessionID uint64, reason string) error {
	ctx, cancel := c.replyContext(ctx)
	defer cancel()
	id := c.nextRequestID.Add(1)
	env, err := c.request(ctx, waitKey{waitRequest, id}, &pb.Envelope{Kind: &pb.Envelope_DisconnectSession{
		DisconnectSession: &pb.DisconnectSession{RequestId: id, SessionId: sessionID, Reason: reason},
	}})
	if err != nil {
		return err
	}
	if e := env.GetError(); e != nil {
		return brokerError(e)
	}
	return nil
}
