package broker

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/topic"
	"github.com/daemoneye/eventbus/wire"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// subscription is one filter of one receiver, as stored in the index.
type subscription struct {
	id     uint32
	filter topic.Filter
	group  string // queue group; "" for a plain subscription
	rcv    receiver
}

// receiver is a session that events are routed to: a socket session or the
// hosting program's in-process session.
type receiver interface {
	// enqueue queues ev for the receiver's subscriptions sids without
	// blocking; it reports false when the receiver's queue is full and the
	// event was dropped for it (counted, and reported to the receiver).
	enqueue(ev *event, sids []uint32) bool
	// offer is enqueue for one member of a queue group: a full queue is not
	// a drop for this receiver, because another member may take the event.
	// Unless anyRoom is set, it also refuses while its queue is at its
	// flow-control mark.
	offer(ev *event, sids []uint32, anyRoom bool) bool
	// needsFrame reports whether the receiver wants ev's encoded frame.
	needsFrame() bool
	// mayReceive reports whether the receiver may read events on topic
	// name; asked once per topic when its route is compiled.
	mayReceive(name string) bool
}

// route is the compiled routing decision for one topic: every receiving
// session of a plain subscription once, with the ids of its subscriptions
// that matched, and every queue group once. Routes are cached per topic by
// the index and shared by concurrent publishers, so they are never modified
// after they are compiled, except for the group cursors and counters, which
// are atomic.
type route struct {
	name       string // the topic
	targets    []target
	groups     []*groupRoute
	needsFrame bool // some receiver is a socket session
	// needsDeliver: some receiver is in process and wants the decoded event.
	needsDeliver bool
	maxSuffix    int           // the largest per-receiver suffix of a delivery frame
	stats        *topicCounter // nil in routes built by compileRoute alone
}

type target struct {
	rcv  receiver
	sids []uint32
}

// groupRoute is one queue group's members for a topic. Each event goes to
// one member, chosen round robin, members under their flow-control mark
// first (see deliver).
type groupRoute struct {
	name    string
	members []target
	next    atomic.Uint32
	full    atomic.Bool // every member was full at the last attempt
}

var emptyRoute = &route{}

func (r *route) empty() bool { return len(r.targets) == 0 && len(r.groups) == 0 }

// compileRoute groups the matched subscriptions by receiver, and queue
// group subscriptions by group, leaving out receivers the policy does not
// let read name.
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
		if m.rcv.needsFrame() {
			r.needsFrame = true
		} else {
			r.needsDeliver = true
		}
		if m.group != "" {
			r.addMember(m)
			continue
		}
		i := r.find(m.rcv, byReceiver)
		if i < 0 {
			i = len(r.targets)
			r.targets = append(r.targets, target{rcv: m.rcv})
			if byReceiver != nil {
				byReceiver[m.rcv] = i
			}
		}
		if !containsID(r.targets[i].sids, m.id) {
			r.targets[i].sids = append(r.targets[i].sids, m.id)
			r.maxSuffix = max(r.maxSuffix, wire.MaxDeliverySuffix(len(r.targets[i].sids)))
		}
	}
	if r.empty() {
		return emptyRoute
	}
	return r
}

// addMember adds a queue group subscription to its group's members.
func (r *route) addMember(m *subscription) {
	r.maxSuffix = max(r.maxSuffix, wire.MaxDeliverySuffix(1))
	for _, g := range r.groups {
		if g.name == m.group {
			for _, t := range g.members {
				if t.rcv == m.rcv && t.sids[0] == m.id {
					return // the same subscription matched through two filters
				}
			}
			g.members = append(g.members, target{rcv: m.rcv, sids: []uint32{m.id}})
			return
		}
	}
	r.groups = append(r.groups, &groupRoute{name: m.group, members: []target{{rcv: m.rcv, sids: []uint32{m.id}}}})
}

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

// deliver hands ev to one member of the group: the next in round-robin
// order whose queue is under its flow-control mark, or failing that, the
// next whose queue has room. A member that falls behind, or hangs, then
// stops taking its share while the others keep up, so no more than a
// mark's worth waits for it (and is lost if it dies). It reports false
// when every member is full.
func (g *groupRoute) deliver(ev *event) bool {
	n := uint32(len(g.members))
	start := g.next.Add(1) - 1
	for _, anyRoom := range [2]bool{false, true} {
		for i := uint32(0); i < n; i++ {
			m := &g.members[(start+i)%n]
			if m.rcv.offer(ev, m.sids, anyRoom) {
				return true
			}
		}
	}
	return false
}

// errDeliveryTooLarge refuses an event whose delivery frame, with what the
// broker adds to the publish (publisher, timestamp, delivery info), would
// exceed the maximum frame size: no receiver could read it.
var errDeliveryTooLarge = errors.New("broker: event too large to deliver")

// event is one published event on its way to receivers. It is immutable from
// the start of routing until its last holder releases it, and shared by
// every receiver's queue.
type event struct {
	// deliver is the decoded event, for in-process receivers; nil when the
	// route has none.
	deliver *pb.Deliver
	// frame is the Envelope holding the Deliver, encoded once for every
	// socket receiver; sum is its checksum. Nil when the route has none.
	frame []byte
	sum   uint32
	// topic and payloadLen describe the event when only the frame is kept.
	topic      string
	payloadLen int
	// wake, when set, defers waking the receivers' consumers to the
	// publishing session's reader (see wakeups); nil wakes them at once.
	wake *wakeups
	// refs counts the holders: the router while it routes, and each queue
	// entry until its consumer is done. The last release returns a pooled
	// event to its pool.
	refs atomic.Int32
	// pool is the index in eventPools the event came from, or -1.
	pool int8
}

// Events whose frames are small enough are recycled, frame buffer and all,
// through one pool per frame capacity: the broker's steady state then
// allocates nothing per event, and the collector has less to do. Larger
// events are rare and allocated exactly.
const (
	smallestPooledFrame = 256
	eventPoolClasses    = 5 // frames of up to 256 << 4 = 4 KiB
)

var eventPools [eventPoolClasses]sync.Pool

// getEvent returns an event with an empty frame of capacity at least size,
// holding one reference for its caller.
func getEvent(size int) *event {
	class := 0
	for c := smallestPooledFrame; c < size; c <<= 1 {
		class++
	}
	if class >= eventPoolClasses {
		ev := &event{pool: -1, frame: make([]byte, 0, size)}
		ev.refs.Store(1)
		return ev
	}
	ev, _ := eventPools[class].Get().(*event)
	if ev == nil {
		ev = &event{pool: int8(class), frame: make([]byte, 0, smallestPooledFrame<<class)}
	}
	ev.refs.Store(1)
	return ev
}

// retain adds a holder.
func (ev *event) retain() { ev.refs.Add(1) }

// release drops a holder; the last one recycles a pooled event, so no one
// may touch ev after releasing it.
func (ev *event) release() {
	if ev.refs.Add(-1) != 0 || ev.pool < 0 {
		return
	}
	ev.deliver, ev.frame, ev.sum = nil, ev.frame[:0], 0
	ev.topic, ev.payloadLen, ev.wake = "", 0, nil
	eventPools[ev.pool].Put(ev)
}

// size is what the event costs a receiver's queue.
func (ev *event) size() int {
	if ev.frame != nil {
		return len(ev.frame) + wire.HeaderSize
	}
	return len(ev.deliver.Payload) + len(ev.deliver.Topic) + wire.HeaderSize
}

// outgoing is an event to route: what was published, by whom, and for a
// request the token its answer must carry.
type outgoing struct {
	topic string
	// payload may alias a read buffer: routing copies it before returning.
	payload []byte
	// correlation is the decoded form, correlationRaw the encoded one;
	// either may be set, or neither.
	correlation    *pb.Correlation
	correlationRaw []byte
	from           *pb.Publisher
	fromRaw        []byte // from, encoded; nil encodes it here
	replyTo        string
	wake           *wakeups // the publishing session's deferred wake-ups, or nil
	// tally, when set, gathers the counts for the publishing session's
	// reader to add later; nil counts at once.
	tally *routeTally
	// received is when the broker received the event, in Unix nanoseconds;
	// zero means now.
	received int64
}

// publish routes one event to every matching plain subscription and to one
// member of every matching queue group, and returns how many receivers it
// was queued for. The topic must be valid.
func (b *Broker) publish(o outgoing) (int, error) {
	return b.publishRoute(b.index.Match(o.topic), o)
}

// publishRoute is publish with the route already looked up.
func (b *Broker) publishRoute(rt *route, o outgoing) (queued int, err error) {
	defer func() {
		if o.tally != nil {
			o.tally.add(b, rt, queued)
		} else {
			b.count(rt, 1, uint64(queued))
		}
	}()
	if rt.empty() {
		return 0, nil
	}
	ev, err := b.newEvent(rt, &o)
	if err != nil {
		return 0, err
	}
	defer ev.release() // the router's hold; the queues hold their own
	for i := range rt.targets {
		t := &rt.targets[i]
		if t.rcv.enqueue(ev, t.sids) {
			queued++
		}
	}
	for _, g := range rt.groups {
		if g.deliver(ev) {
			queued++
			if g.full.Load() && g.full.CompareAndSwap(true, false) {
				b.log.Info("queue group accepting events again", "group", g.name, "topic", o.topic)
			}
			continue
		}
		b.counters.dropped.Add(1)
		b.counters.groupFull.Add(1)
		if g.full.CompareAndSwap(false, true) {
			b.log.Warn("every member of a queue group is full: dropping events for the group",
				"group", g.name, "topic", o.topic, "members", len(g.members))
		}
	}
	return queued, nil
}

// count adds events published on rt and their deliveries to the broker's
// and the topic's counters.
func (b *Broker) count(rt *route, published, routed uint64) {
	b.counters.published.Add(published)
	b.counters.routed.Add(routed)
	if rt.stats != nil {
		rt.stats.published.Add(published)
		rt.stats.delivered.Add(routed)
	}
}

// routeTally gathers what one session's reader routes between two reads
// from its socket and adds it to the shared counters in one step: the
// counters are written by every publishing session, and a cache line
// bouncing between cores on every event costs more than the event's
// routing. Consecutive events on one topic, the usual case, share an entry.
type routeTally struct {
	rt                *route
	published, routed uint64
}

func (t *routeTally) add(b *Broker, rt *route, routed int) {
	if rt != t.rt {
		t.flush(b)
		t.rt = rt
	}
	t.published++
	t.routed += uint64(routed)
}

// flush adds what was gathered to the counters.
func (t *routeTally) flush(b *Broker) {
	if t.published > 0 {
		b.count(t.rt, t.published, t.routed)
	}
	*t = routeTally{}
}

// newEvent builds what the route's receivers need: the Deliver encoded once
// for socket receivers, into a pooled buffer of its size class (see
// getEvent), and the decoded Deliver for in-process ones.
func (b *Broker) newEvent(rt *route, o *outgoing) (*event, error) {
	if o.correlationRaw == nil && o.correlation != nil {
		raw, err := proto.Marshal(o.correlation)
		if err != nil {
			return nil, fmt.Errorf("broker: encode correlation: %w", err)
		}
		o.correlationRaw = raw
	}
	if o.received == 0 {
		o.received = time.Now().UnixNano()
	}
	parts := wire.DeliverParts{
		Topic:             o.topic,
		Payload:           o.payload,
		TimestampUnixNano: o.received,
		Publisher:         o.fromRaw,
		Correlation:       o.correlationRaw,
		ReplyTo:           o.replyTo,
	}
	if parts.Publisher == nil && o.from != nil {
		parts.Publisher, _ = proto.Marshal(o.from)
	}
	var ev *event
	if rt.needsFrame {
		size := wire.DeliverMessageSize(&parts)
		if n := size + rt.maxSuffix; n > b.cfg.Wire.MaxFrameSize {
			return nil, fmt.Errorf("%w: its delivery frame would be up to %d bytes, limit is %d", errDeliveryTooLarge, n, b.cfg.Wire.MaxFrameSize)
		}
		ev = getEvent(size)
		ev.frame = wire.AppendDeliverMessage(ev.frame, &parts)
		ev.sum = b.cfg.Wire.CRC.Checksum(ev.frame)
		ev.topic, ev.payloadLen = o.topic, len(o.payload)
	}
	if ev == nil {
		ev = &event{pool: -1}
		ev.refs.Store(1)
	}
	ev.wake = o.wake
	if rt.needsDeliver {
		corr := o.correlation
		if corr == nil && o.correlationRaw != nil {
			corr = new(pb.Correlation)
			if err := proto.Unmarshal(o.correlationRaw, corr); err != nil {
				return nil, fmt.Errorf("broker: decode correlation: %w", err)
			}
		}
		ev.deliver = &pb.Deliver{
			Topic: o.topic, Payload: bytes.Clone(o.payload), TimestampUnixNano: parts.TimestampUnixNano,
			Publisher: o.from, Correlation: corr, ReplyTo: o.replyTo,
		}
	}
	return ev, nil
}

// compile builds the route for name and attaches the topic's counters; the
// topic index calls it on a cache miss.
func (b *Broker) compile(name string, matches []*subscription) *route {
	r := compileRoute(name, matches)
	if r == emptyRoute {
		r = &route{}
	}
	r.name = name
	r.stats = b.topics.counter(name)
	return r
}
