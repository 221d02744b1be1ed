package broker

import (
	"errors"
	"fmt"
	"time"

	"github.com/daemoneye/eventbus/topic"
	"github.com/daemoneye/eventbus/wire"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// subscription is one filter of one receiver, as stored in the index.
type subscription struct {
	id     uint32
	filter topic.Filter
	rcv    receiver
}

// receiver is a session that events are routed to: a socket session or the
// hosting program's in-process session.
type receiver interface {
	// enqueue queues ev for the receiver's subscriptions sids without
	// blocking; it reports false when the receiver's queue is full and the
	// event was dropped for it.
	enqueue(ev *event, sids []uint32) bool
	// needsFrame reports whether the receiver wants ev's encoded frame.
	needsFrame() bool
	// mayReceive reports whether the receiver may read events on topic
	// name; asked once per topic when its route is compiled.
	mayReceive(name string) bool
}

// route is the compiled routing decision for one topic: every receiving
// session once, with the ids of its subscriptions that matched. Routes are
// cached per topic by the index and shared by concurrent publishers, so they
// are never modified after compileRoute returns.
type route struct {
	targets    []target
	needsFrame bool
	maxSuffix  int // the largest per-receiver suffix of a delivery frame
}

type target struct {
	rcv  receiver
	sids []uint32
}

var emptyRoute = &route{}

// compileRoute groups the matched subscriptions by receiver, leaving out
// receivers the policy does not let read name.
func compileRoute(name string, matches []*subscription) *route {
	if len(matches) == 0 {
		return emptyRoute
	}
	r := &route{targets: make([]target, 0, len(matches))}
	var byReceiver map[receiver]int // only for wide fan-out, where a scan would be quadratic
	if len(matches) > 16 {
		byReceiver = make(map[receiver]int, len(matches))
	}
	for _, m := range matches {
		if !m.rcv.mayReceive(name) {
			continue
		}
		i := r.find(m.rcv, byReceiver)
		if i < 0 {
			i = len(r.targets)
			r.targets = append(r.targets, target{rcv: m.rcv})
			if byReceiver != nil {
				byReceiver[m.rcv] = i
			}
			r.needsFrame = r.needsFrame || m.rcv.needsFrame()
		}
		if !containsID(r.targets[i].sids, m.id) {
			r.targets[i].sids = append(r.targets[i].sids, m.id)
			r.maxSuffix = max(r.maxSuffix, wire.MaxDeliverySuffix(len(r.targets[i].sids)))
		}
	}
	if len(r.targets) == 0 {
		return emptyRoute
	}
	return r
}

// errDeliveryTooLarge refuses an event whose delivery frame, with what the
// broker adds to the publish (publisher, timestamp, delivery info), would
// exceed the maximum frame size: no receiver could read it.
var errDeliveryTooLarge = errors.New("broker: event too large to deliver")

func (r *route) find(rcv receiver, index map[receiver]int) int {
	if index != nil {
		if i, ok := index[rcv]; ok {
			return i
		}
		return -1
	}
	for i := range r.targets {
		if r.targets[i].rcv == rcv {
			return i
		}
	}
	return -1
}

func containsID(ids []uint32, id uint32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// event is one published event on its way to receivers. It is immutable once
// routing starts and shared by every receiver's queue.
type event struct {
	deliver *pb.Deliver
	// frame is the Envelope holding deliver, encoded once for every socket
	// receiver; sum is its checksum. Empty when no socket receiver wants it.
	frame []byte
	sum   uint32
}

// size is what the event costs a receiver's queue.
func (ev *event) size() int {
	if ev.frame != nil {
		return len(ev.frame) + wire.HeaderSize
	}
	return len(ev.deliver.Payload) + len(ev.deliver.Topic) + wire.HeaderSize
}

// publish routes one event to every matching subscription and returns how
// many receivers it was queued for. name must be a valid topic.
func (b *Broker) publish(name string, payload []byte, corr *pb.Correlation, from *pb.Publisher) (int, error) {
	rt := b.index.Match(name)
	b.counters.published.Add(1)
	if len(rt.targets) == 0 {
		return 0, nil
	}
	ev := &event{deliver: &pb.Deliver{
		Topic:             name,
		Payload:           payload,
		TimestampUnixNano: time.Now().UnixNano(),
		Publisher:         from,
		Correlation:       corr,
	}}
	if rt.needsFrame {
		var err error
		ev.frame, ev.sum, err = b.cfg.Wire.CRC.EncodeShared(&pb.Envelope{Kind: &pb.Envelope_Deliver{Deliver: ev.deliver}})
		if err != nil {
			return 0, err
		}
		if n := len(ev.frame) + rt.maxSuffix; n > b.cfg.Wire.MaxFrameSize {
			return 0, fmt.Errorf("%w: its delivery frame would be up to %d bytes, limit is %d", errDeliveryTooLarge, n, b.cfg.Wire.MaxFrameSize)
		}
	}
	queued := 0
	for i := range rt.targets {
		t := &rt.targets[i]
		if t.rcv.enqueue(ev, t.sids) {
			queued++
		}
	}
	b.counters.routed.Add(uint64(queued))
	return queued, nil
}
