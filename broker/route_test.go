package broker

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/daemoneye/eventbus/topic"
	"github.com/daemoneye/eventbus/wire"
)

// countingReceiver is an in-memory receiver for routing unit tests.
type countingReceiver struct {
	denied map[string]bool // topics the receiver's policy forbids
	name   string
	frame  bool
	full   bool // refuses group offers, as a full queue does
	busy   bool // refuses group offers but those to any member with room, as a queue at its mark does
	got    [][]uint32
}

func (r *countingReceiver) enqueue(_ *event, sids []uint32) bool {
	r.got = append(r.got, sids)
	return true
}

func (r *countingReceiver) offer(ev *event, sids []uint32, anyRoom bool) bool {
	if r.full || (r.busy && !anyRoom) {
		return false
	}
	return r.enqueue(ev, sids)
}

func (r *countingReceiver) needsFrame() bool { return r.frame }

func (r *countingReceiver) mayReceive(name string) bool { return !r.denied[name] }

func subOf(rcv receiver, id uint32) *subscription {
	return &subscription{id: id, filter: topic.MustParseFilter("x.#"), rcv: rcv}
}

// checkRoute compares a route with the wanted receivers and ids, in order.
func checkRoute(t *testing.T, r *route, want []target) {
	t.Helper()
	if len(r.targets) != len(want) {
		t.Fatalf("route has %d targets, want %d", len(r.targets), len(want))
	}
	for i := range want {
		if r.targets[i].rcv != want[i].rcv || !slices.Equal(r.targets[i].sids, want[i].sids) {
			t.Errorf("target %d: %v %v, want %v %v", i, r.targets[i].rcv, r.targets[i].sids, want[i].rcv, want[i].sids)
		}
	}
}

func TestCompileRouteEmpty(t *testing.T) {
	for _, m := range [][]*subscription{nil, {}} {
		if r := compileRoute("x.y", m); r != emptyRoute {
			t.Errorf("compileRoute(%v) = %p, want the shared emptyRoute %p", m, r, emptyRoute)
		}
	}
	if len(emptyRoute.targets) != 0 || emptyRoute.needsFrame {
		t.Errorf("emptyRoute = %+v", emptyRoute)
	}
}

func TestCompileRouteGroupsByReceiver(t *testing.T) {
	a := &countingReceiver{name: "a", frame: true}
	b := &countingReceiver{name: "b"}
	c := &countingReceiver{name: "c"}
	matches := []*subscription{
		subOf(a, 1), subOf(b, 7), subOf(a, 2), subOf(c, 1), subOf(a, 3), subOf(b, 8),
	}
	r := compileRoute("x.y", matches)
	checkRoute(t, r, []target{
		{rcv: a, sids: []uint32{1, 2, 3}},
		{rcv: b, sids: []uint32{7, 8}},
		{rcv: c, sids: []uint32{1}},
	})
	if !r.needsFrame {
		t.Error("needsFrame false although receiver a wants frames")
	}
	if r := compileRoute("x.y", []*subscription{subOf(b, 1), subOf(c, 2)}); r.needsFrame {
		t.Error("needsFrame true with only in-process receivers")
	}
}

func TestCompileRouteDedupesIDs(t *testing.T) {
	a := &countingReceiver{name: "a"}
	b := &countingReceiver{name: "b"}
	// The same subscription can be collected twice, for example by a filter
	// matching at two trie nodes; it is delivered once.
	s1 := subOf(a, 1)
	r := compileRoute("x.y", []*subscription{s1, subOf(b, 4), s1, subOf(a, 1), subOf(a, 2), subOf(b, 4)})
	checkRoute(t, r, []target{
		{rcv: a, sids: []uint32{1, 2}},
		{rcv: b, sids: []uint32{4}},
	})
}

// TestCompileRouteWideFanOut covers the map path used above 16 matches, and
// checks that it gives the same result as the scan.
func TestCompileRouteWideFanOut(t *testing.T) {
	for _, n := range []int{15, 16, 17, 40, 500} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			rcvs := make([]*countingReceiver, 7)
			for i := range rcvs {
				rcvs[i] = &countingReceiver{name: fmt.Sprint(i), frame: i == 6}
			}
			var matches []*subscription
			want := make([]target, 0, len(rcvs))
			index := map[*countingReceiver]int{}
			for i := range n {
				rcv := rcvs[(i*5)%len(rcvs)]
				id := uint32(i/3 + 1) // ids repeat per receiver now and then
				matches = append(matches, subOf(rcv, id))
				j, ok := index[rcv]
				if !ok {
					j = len(want)
					index[rcv] = j
					want = append(want, target{rcv: rcv})
				}
				if !slices.Contains(want[j].sids, id) {
					want[j].sids = append(want[j].sids, id)
				}
			}
			r := compileRoute("x.y", matches)
			checkRoute(t, r, want)
			if r.needsFrame != (n > 6) {
				t.Errorf("needsFrame = %v with %d matches", r.needsFrame, n)
			}
		})
	}
}

// TestDeliverySuffixMax checks the bound publish uses to refuse events too
// large to deliver against the suffix the codec really appends.
func TestDeliverySuffixMax(t *testing.T) {
	shared := []byte{0x3a, 0x00}
	for _, n := range []int{1, 2, 3, 100, 1024, 5000} {
		ids := make([]uint32, n)
		for i := range ids {
			ids[i] = math.MaxUint32 - uint32(i)
		}
		frame := wire.CRCIEEE.AppendDeliveryFrame(nil, shared, wire.CRCIEEE.Checksum(shared), ids, math.MaxUint64)
		got := len(frame) - wire.HeaderSize - len(shared)
		if bound := wire.MaxDeliverySuffix(n); got > bound {
			t.Errorf("%d ids: suffix is %d bytes, bound %d", n, got, bound)
		}
	}
	a := &countingReceiver{frame: true}
	b := &countingReceiver{frame: true}
	r := compileRoute("x.y", []*subscription{subOf(a, 1), subOf(b, 1), subOf(b, 2), subOf(b, 3)})
	if r.maxSuffix != wire.MaxDeliverySuffix(3) {
		t.Errorf("route maxSuffix %d, want the bound for 3 ids, %d", r.maxSuffix, wire.MaxDeliverySuffix(3))
	}
}

// TestCompileRouteMapThreshold shows the receiver map being built above 16
// matches only: with every match a different receiver, the 17th match
// costs its sids slice plus the map.
func TestCompileRouteMapThreshold(t *testing.T) {
	allocs := func(n int) float64 {
		matches := make([]*subscription, n)
		for i := range matches {
			matches[i] = subOf(&countingReceiver{}, 1)
		}
		return testing.AllocsPerRun(50, func() { compileRoute("x.y", matches) })
	}
	a16, a17 := allocs(16), allocs(17)
	if a16 != 2+16 {
		t.Errorf("16 matches: %v allocations, want route, targets and 16 id slices", a16)
	}
	if a17 < a16+2 {
		t.Errorf("17 matches: %v allocations, 16: %v; want the map on top of one more id slice", a17, a16)
	}
}

// A receiver whose policy forbids a topic is left out of that topic's route
// only; its other subscriptions still route.
func TestCompileRouteLeavesOutForbiddenReceivers(t *testing.T) {
	a := &countingReceiver{name: "a", denied: map[string]bool{"events.secret": true}}
	b := &countingReceiver{name: "b"}
	matches := []*subscription{{id: 1, rcv: a}, {id: 2, rcv: b}}
	r := compileRoute("events.secret", matches)
	if len(r.targets) != 1 || r.targets[0].rcv != b {
		t.Fatalf("route for a forbidden topic: %+v, want only b", r.targets)
	}
	if r := compileRoute("events.open", matches); len(r.targets) != 2 {
		t.Fatalf("route for an allowed topic has %d targets, want 2", len(r.targets))
	}
	only := compileRoute("events.secret", matches[:1])
	if only != emptyRoute {
		t.Fatalf("a route with every receiver left out must be the shared empty route")
	}
}

// Queue group members are grouped by group name, apart from plain
// subscribers; delivery goes round robin and skips full members.
func TestCompileRouteQueueGroups(t *testing.T) {
	a := &countingReceiver{name: "a"}
	b := &countingReceiver{name: "b"}
	p := &countingReceiver{name: "plain"}
	matches := []*subscription{
		{id: 1, rcv: a, group: "g"},
		{id: 1, rcv: b, group: "g"},
		{id: 1, rcv: p},
		{id: 2, rcv: a, group: "other"},
		{id: 1, rcv: a, group: "g"}, // the same subscription matched twice
	}
	r := compileRoute("t", matches)
	if len(r.targets) != 1 || r.targets[0].rcv != p {
		t.Fatalf("plain targets %+v", r.targets)
	}
	if len(r.groups) != 2 || r.groups[0].name != "g" || len(r.groups[0].members) != 2 || len(r.groups[1].members) != 1 {
		t.Fatalf("groups %+v", r.groups)
	}
	g := r.groups[0]
	// deliver hands the group n events, then checks what each member got
	// in all.
	deliver := func(n, wantA, wantB int, what string) {
		t.Helper()
		for range n {
			if !g.deliver(&event{}) {
				t.Fatalf("%s: group delivery failed with room in a member", what)
			}
		}
		if len(a.got) != wantA || len(b.got) != wantB {
			t.Fatalf("%s: a got %d and b %d, want %d and %d", what, len(a.got), len(b.got), wantA, wantB)
		}
	}
	deliver(4, 2, 2, "round robin")
	// A member at its flow-control mark gets nothing while another has
	// not reached its own, and its share again when every member has.
	a.busy = true
	deliver(4, 2, 6, "one member at its mark")
	b.busy = true
	deliver(4, 4, 8, "every member at its mark")
	a.busy, b.busy = false, false
	a.full = true
	deliver(3, 4, 11, "one member full")
	b.full = true
	if g.deliver(&event{}) {
		t.Fatal("delivery reported success with every member full")
	}
}

// A group offer takes the event only under the queue's flow-control mark,
// unless any room will do.
func TestQueueOfferUnderMark(t *testing.T) {
	q := newQueue(limits(8, 2), 1)
	defer takeAll(t, q)
	offer := func(anyRoom bool) pushResult {
		return q.offerEvent(getEvent(64), []uint32{1}, anyRoom)
	}
	for i := range 2 {
		if r := offer(false); r != pushed {
			t.Fatalf("offer %d under the mark: %d", i, r)
		}
	}
	if r := offer(false); r != droppedFull {
		t.Fatalf("offer at the mark: %d, want refused", r)
	}
	if r := offer(true); r != pushed {
		t.Fatalf("offer to any room at the mark: %d", r)
	}
	takeAll(t, q)
	if r := offer(false); r != pushed {
		t.Fatalf("offer after the consumer took the queue: %d", r)
	}
}
