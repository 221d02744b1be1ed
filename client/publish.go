package client

import (
	"context"
	"fmt"

	"github.com/daemoneye/eventbus/topic"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// PublishOption adds metadata to a publish.
type PublishOption func(*pb.Publish)

// WithCorrelation attaches correlation metadata (correlation, parent and root
// ids, sequence, workflow stage, tags) that subscribers receive as is.
func WithCorrelation(c *pb.Correlation) PublishOption {
	return func(p *pb.Publish) { p.Correlation = c }
}

// Publish queues an event for topic and returns once it is in the outbound
// buffer, without waiting for the broker. It blocks while the buffer is full,
// until ctx ends. A refusal by the broker arrives later through
// Options.OnError; use PublishConfirmed to learn it from the call.
func (c *Client) Publish(ctx context.Context, name string, payload []byte, opts ...PublishOption) error {
	env, err := publishEnvelope(name, payload, 0, opts)
	if err != nil {
		return err
	}
	return c.out.send(ctx, env)
}

// PublishConfirmed publishes and waits until the broker has routed the event,
// returning how many receivers it was queued for (zero when nobody is
// subscribed), or the broker's refusal as a *BrokerError.
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

// replyContext bounds a request by ReplyTimeout unless ctx ends earlier.
func (c *Client) replyContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.opts.ReplyTimeout)
}
