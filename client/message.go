package client

import (
	"time"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// Message is an event delivered to a subscription handler. It is shared by
// every handler of this client that the event matched: read it, do not
// modify it.
type Message struct {
	Topic   string
	Payload []byte
	// Time is when the broker received the event.
	Time        time.Time
	Publisher   Publisher
	Correlation *pb.Correlation
	// SubscriptionIDs lists every subscription of this client the event
	// matched; it is delivered once however many matched.
	SubscriptionIDs []uint32
	// Dropped counts events the broker had to drop for this client, because
	// its queue there was full, just before this one.
	Dropped uint64
}

// Publisher identifies the session that published a Message. The broker
// fills it in; a publisher cannot forge it.
type Publisher struct {
	ClientName string
	InstanceID string
	SessionID  uint64
}

func newMessage(d *pb.Deliver, info *pb.DeliveryInfo) *Message {
	return &Message{
		Topic:   d.Topic,
		Payload: d.Payload,
		Time:    time.Unix(0, d.TimestampUnixNano),
		Publisher: Publisher{
			ClientName: d.Publisher.GetClientName(),
			InstanceID: d.Publisher.GetInstanceId(),
			SessionID:  d.Publisher.GetSessionId(),
		},
		Correlation:     d.Correlation,
		SubscriptionIDs: info.GetSubscriptionIds(),
		Dropped:         info.GetDroppedBefore(),
	}
}
