package client

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/topic"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// PublishOption adds metadata to a publish, a request or a reply.
type PublishOption func(*pb.Publish)

// WithCorrelation attaches correlation metadata (correlation, parent and root
// ids, sequence, workflow stage, tags) that subscribers receive as is.
func WithCorrelation(c *pb.Correlation) PublishOption {
	return func(p *pb.Publish) { p.Correlation = c }
}

// Publish queues an event for topic and returns once it is in the outbound
// buffer, without waiting for the broker. While the client is reconnecting
// the event waits in the buffer and is sent, in order, on the next
// connection. When the buffer is full, Options.WhenFull decides: wait until
// ctx ends, or fail at once; either way the error wraps ErrBufferFull.
//
// Publish is at most once: an event already written to a connection that
// then fails may or may not have reached the broker, and is not sent again.
// A refusal by the broker arrives later through Options.OnError. Use
// PublishConfirmed to learn either from the call.
func (c *Client) Publish(ctx context.Context, name string, payload []byte, opts ...PublishOption) error {
	if err := topic.ValidateName(name); err != nil {
		return fmt.Errorf("%w: %w", ErrBadTopic, err)
	}
	var corr []byte
	if len(opts) > 0 {
		if cm := correlationOf(opts); cm != nil {
			var err error
			if corr, err = proto.Marshal(cm); err != nil {
				return fmt.Errorf("client: encode correlation: %w", err)
			}
		}
	}
	// Encoded straight into the outbound buffer: no protobuf structs, no
	// allocation of its own.
	return c.out.sendFrame(ctx, func(dst []byte) ([]byte, error) {
		return c.crc.AppendPublishFrame(dst, name, payload, corr, 0), nil
	}, waitKey{})
}

// PublishConfirmed publishes and waits until the broker has routed the event,
// returning how many receivers it was queued for (zero when nobody is
// subscribed), or the broker's refusal as a *BrokerError. The wait is
// bounded by ctx, or by Options.ReplyTimeout when ctx has no deadline.
//
// Across a lost connection: an event still buffered is sent on the next
// connection and the call goes on waiting. An event already written when
// the connection failed, and not yet confirmed, has an unknown outcome:
// the call returns an error wrapping ErrNotConnected that says so, and the
// caller may publish it again (at least once). When ctx ends first, the
// error wraps ErrNoReply; an event still buffered then is withdrawn and
// never sent (the error says so), otherwise its outcome is unknown too.
func (c *Client) PublishConfirmed(ctx context.Context, name string, payload []byte, opts ...PublishOption) (int, error) {
	id := c.nextRequestID.Add(1)
	env, err := publishEnvelope(name, payload, id, opts)
	if err != nil {
		return 0, err
	}
	ctx, cancel := c.replyContext(ctx)
	defer cancel()
	ans, err := c.request(ctx, waitKey{waitPubAck, id}, env)
	if err != nil {
		return 0, err
	}
	if e := ans.GetError(); e != nil {
		return 0, brokerError(e)
	}
	return int(ans.GetPubAck().GetReceivers()), nil
}

func publishEnvelope(name string, payload []byte, id uint64, opts []PublishOption) (*pb.Envelope, error) {
	if err := topic.ValidateName(name); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadTopic, err)
	}
	p := &pb.Publish{Topic: name, Payload: payload, PublishId: id}
	for _, o := range opts {
		o(p)
	}
	return &pb.Envelope{Kind: &pb.Envelope_Publish{Publish: p}}, nil
}

// correlationOf applies opts and returns the correlation they set.
func correlationOf(opts []PublishOption) *pb.Correlation {
	var p pb.Publish
	for _, o := range opts {
		o(&p)
	}
	return p.Correlation
}

// replyContext bounds a request by ReplyTimeout unless ctx ends earlier.
func (c *Client) replyContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.opts.ReplyTimeout)
}
