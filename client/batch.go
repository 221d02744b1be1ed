package client

import (
	"bytes"

	"google.golang.org/protobuf/proto"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// batch is a run of deliveries read together and handled in one step, by
// the reader itself or by the dispatcher: at most one wake-up of the
// dispatcher for every read from the socket, not one per message.
type batch struct {
	msgs []*Message
	// With Options.ReuseMessages the messages, and payloads up to
	// maxBlockedPayload, live in store and arena, which go back to the
	// reader for the next batch once every handler has returned.
	store []Message
	arena []byte
}

// arenaSize is a reused batch's first payload arena; one that fills up is
// replaced by a larger one, kept for the batches after.
const arenaSize = 32 << 10

// newBatch returns an empty batch: a reused one when there is one.
func (c *Client) newBatch() *batch {
	if c.free == nil {
		return &batch{msgs: make([]*Message, 0, maxBatch)}
	}
	select {
	case b := <-c.free:
		return b
	default:
	}
	return &batch{
		msgs:  make([]*Message, 0, maxBatch),
		store: make([]Message, 0, maxBatch),
		arena: make([]byte, 0, arenaSize),
	}
}

// recycle takes back a batch whose messages every handler is done with.
func (c *Client) recycle(b *batch) {
	if c.free == nil || b.store == nil {
		return
	}
	// Nothing a handler was given stays reachable from the pool.
	clear(b.store)
	clear(b.msgs)
	b.msgs, b.store, b.arena = b.msgs[:0], b.store[:0], b.arena[:0]
	select {
	case c.free <- b:
	default:
	}
}

// message returns a zeroed Message for the batch to hold: from its store
// when it has one, otherwise from the link's blocks.
func (b *batch) message(l *link) *Message {
	if len(b.store) < cap(b.store) {
		b.store = b.store[:len(b.store)+1]
		return &b.store[len(b.store)-1]
	}
	return l.newMessage()
}

// payload copies p for a message of the batch: into its arena when it has
// one, otherwise as the link does.
func (b *batch) payload(l *link, p []byte) []byte {
	if b.store == nil || len(p) == 0 || len(p) > maxBlockedPayload {
		return l.copyPayload(p)
	}
	if cap(b.arena)-len(b.arena) < len(p) {
		// Earlier messages keep the old arena alive until they are done.
		b.arena = make([]byte, 0, max(2*cap(b.arena), arenaSize))
	}
	start := len(b.arena)
	b.arena = append(b.arena, p...)
	return b.arena[start:len(b.arena):len(b.arena)]
}

// Clone returns a copy of m that shares no memory with the client. A
// handler of a client with Options.ReuseMessages must clone what it keeps
// past its return.
func (m *Message) Clone() *Message {
	c := *m
	c.Payload = bytes.Clone(m.Payload)
	c.SubscriptionIDs = append([]uint32(nil), m.SubscriptionIDs...)
	if m.Correlation != nil {
		c.Correlation = proto.Clone(m.Correlation).(*pb.Correlation)
	}
	return &c
}
