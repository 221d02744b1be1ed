package client

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/wire"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// Message is an event delivered to a subscription handler, or the response
// Request returns. A delivered Message is shared by every handler of this
// client that the event matched: read it, do not modify it. Messages and
// small payloads are allocated in blocks shared with neighbouring
// deliveries (about 16 KiB): keeping a Message keeps its block alive, so a
// handler that stores a few messages out of many should copy them. With
// Options.ReuseMessages, a delivered Message and its Payload are valid only
// until the handler returns; Clone what you keep.
type Message struct {
	Topic   string
	Payload []byte
	// Time is when the broker received the event; for a response, when the
	// client received it.
	Time time.Time
	// Publisher is who published the event, or who answered the request.
	Publisher   Publisher
	Correlation *pb.Correlation
	// SubscriptionIDs lists every subscription of this client the event
	// matched; it is delivered once however many matched. Empty for a
	// response.
	SubscriptionIDs []uint32
	// Dropped counts events the broker had to drop for this client, because
	// its queue there was full, just before this one.
	Dropped uint64

	// reply is set for a request only: most messages carry no pointer
	// for it, which keeps them small.
	reply *replyRoute
}

// replyRoute is where Respond sends its answer.
type replyRoute struct {
	c  *Client // that received the request
	to string  // the broker's reply token
}

// Publisher identifies the session that published a Message. The broker
// fills it in; a publisher cannot forge it.
type Publisher struct {
	ClientName string
	InstanceID string
	SessionID  uint64
}

func newMessage(c *Client, d *pb.Deliver, info *pb.DeliveryInfo) *Message {
	return &Message{
		Topic:           d.Topic,
		Payload:         d.Payload,
		Time:            time.Unix(0, d.TimestampUnixNano),
		Publisher:       publisherOf(d.Publisher),
		Correlation:     d.Correlation,
		SubscriptionIDs: info.GetSubscriptionIds(),
		Dropped:         info.GetDroppedBefore(),
		reply:           replyTo(c, d.ReplyTo),
	}
}

// replyTo is the route of a request's answer, or nil when token is empty.
func replyTo(c *Client, token string) *replyRoute {
	if token == "" {
		return nil
	}
	return &replyRoute{c: c, to: token}
}

// maxCachedPublishers bounds a link's cache of decoded publishers.
const maxCachedPublishers = 256

// messageFrom builds a Message from a delivery parsed by wire.ParseDeliver,
// copying what it keeps out of the read buffer.
func (c *Client) messageFrom(l *link, b *batch, v *wire.DeliverView) (*Message, error) {
	pub, err := l.publisher(v.Publisher)
	if err != nil {
		return nil, err
	}
	// m is zeroed and on the heap: field by field, only the pointers set
	// here pass the collector's write barrier, where a whole-struct copy
	// would run the bulk barrier over every pointer slot.
	m := b.message(l)
	m.Topic = l.topicString(v.Topic)
	m.Payload = b.payload(l, v.Payload)
	m.Time = time.Unix(0, v.TimestampUnixNano)
	m.Publisher = pub
	m.SubscriptionIDs = l.subscriptionIDs(v)
	m.Dropped = v.Dropped
	if len(v.ReplyTo) > 0 {
		m.reply = replyTo(c, string(v.ReplyTo))
	}
	if len(v.Correlation) > 0 {
		m.Correlation = new(pb.Correlation)
		if err := proto.Unmarshal(v.Correlation, m.Correlation); err != nil {
			return nil, fmt.Errorf("%w: delivery with a malformed correlation: %v", wire.ErrBadMessage, err)
		}
	}
	return m, nil
}

// Messages and small payloads are carved from blocks shared by consecutive
// deliveries: two allocations per message become about one per 64. A
// handler that keeps a Message (or its Payload) keeps its block alive; the
// small block sizes bound what that retains.
const (
	messageBlock      = 64       // messages per block
	payloadBlock      = 16 << 10 // bytes per payload block
	maxBlockedPayload = 1 << 10  // larger payloads get their own allocation
)

func (l *link) newMessage() *Message {
	if len(l.msgBlock) == 0 {
		l.msgBlock = make([]Message, messageBlock)
	}
	m := &l.msgBlock[0]
	l.msgBlock = l.msgBlock[1:]
	return m
}

// copyPayload copies a payload out of the read buffer. The copy's capacity
// is its length, so that a handler appending to it cannot write into its
// neighbour's bytes.
func (l *link) copyPayload(p []byte) []byte {
	if len(p) == 0 {
		return nil
	}
	if len(p) > maxBlockedPayload {
		return bytes.Clone(p)
	}
	if cap(l.payBlock)-len(l.payBlock) < len(p) {
		l.payBlock = make([]byte, 0, payloadBlock)
	}
	start := len(l.payBlock)
	l.payBlock = append(l.payBlock, p...)
	return l.payBlock[start:len(l.payBlock):len(l.payBlock)]
}

// topicString returns the topic as a string, reusing the previous
// message's when it is the same topic, as it usually is in a stream.
func (l *link) topicString(b []byte) string {
	if string(b) != l.lastTopic { // no allocation for the comparison
		l.lastTopic = string(b)
	}
	return l.lastTopic
}

// subscriptionIDs returns the matched ids, sharing the previous message's
// slice when they are the same. Messages are read-only to handlers, so the
// slice may be shared.
func (l *link) subscriptionIDs(v *wire.DeliverView) []uint32 {
	ids := v.SubscriptionIDs(l.idScratch[:0])
	l.idScratch = ids
	if !slices.Equal(ids, l.lastIDs) {
		l.lastIDs = slices.Clone(ids)
	}
	return l.lastIDs
}

// publisher decodes an encoded Publisher; a session's events all carry the
// same bytes, so the decoded form is cached.
func (l *link) publisher(raw []byte) (Publisher, error) {
	if string(raw) == l.lastPublisherRaw { // the zero Publisher for none
		return l.lastPublisher, nil
	}
	if e, ok := l.publishers[string(raw)]; ok {
		l.lastPublisher, l.lastPublisherRaw = e.p, e.raw
		return e.p, nil
	}
	var pp pb.Publisher
	if err := proto.Unmarshal(raw, &pp); err != nil {
		return Publisher{}, fmt.Errorf("%w: delivery with a malformed publisher: %v", wire.ErrBadMessage, err)
	}
	p := publisherOf(&pp)
	if l.publishers == nil || len(l.publishers) >= maxCachedPublishers {
		l.publishers = make(map[string]cachedPublisher)
	}
	key := string(raw)
	l.publishers[key] = cachedPublisher{raw: key, p: p}
	l.lastPublisher, l.lastPublisherRaw = p, key
	return p, nil
}

// cachedPublisher is a decoded publisher with its encoding, which the
// last-publisher memo shares instead of copying it from the frame.
type cachedPublisher struct {
	raw string
	p   Publisher
}

func publisherOf(p *pb.Publisher) Publisher {
	return Publisher{ClientName: p.GetClientName(), InstanceID: p.GetInstanceId(), SessionID: p.GetSessionId()}
}

// ReplyTo returns the broker's reply token when the message is a request
// (another client's Request), or "".
func (m *Message) ReplyTo() string {
	if m.reply == nil {
		return ""
	}
	return m.reply.to
}

// Respond answers a request with payload (and opts' correlation). The
// broker passes only the first answer to the requester, and only while the
// request is open; it drops late, duplicate and unknown replies without
// telling the responder. Respond queues the reply like Publish, waiting at
// most Options.ReplyTimeout for room in the outbound buffer, and returns
// once it is queued. A reply buffered while the client reconnects is sent
// on the next connection, where it still reaches the requester if the
// broker is the same one and the request is still open. Respond on a
// message that is not a request returns ErrNotARequest.
func (m *Message) Respond(payload []byte, opts ...PublishOption) error {
	r := m.reply
	if r == nil {
		return ErrNotARequest
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.c.opts.ReplyTimeout)
	defer cancel()
	return r.c.out.send(ctx, &pb.Envelope{Kind: &pb.Envelope_Reply{Reply: &pb.Reply{
		ReplyTo: r.to, Payload: payload, Correlation: correlationOf(opts),
	}}}, waitKey{})
}
