package acl_test

import (
	"flag"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/daemoneye/eventbus/acl"
	"github.com/daemoneye/eventbus/topic"
)

var propSeed = flag.Uint64("acl.seed", 0, "seed for TestCheckSubscribeSound (default: time-based)")

// The property tests work on a small universe: names of 1 to 4 levels over
// {a, b, c}, optionally starting with the reserved level $s, and every
// filter of 1 to 4 levels over {a, b, +, #} (optionally starting with $s).
// c occurs in no filter, so '+' and '#' are also tried on levels no rule
// names. Any two filters that overlap share a name in the universe.
var (
	propNameLevels   = []string{"a", "b", "c"}
	propFilterLevels = []string{"a", "b", "+"}
	propReserved     = "$s"
	propMaxLevels    = 4
)

func propNames() []string {
	var names []string
	var grow func(prefix string, n int)
	grow = func(prefix string, n int) {
		names = append(names, prefix)
		if n == propMaxLevels {
			return
		}
		for _, l := range propNameLevels {
			grow(prefix+"."+l, n+1)
		}
	}
	for _, first := range append([]string{propReserved}, propNameLevels...) {
		grow(first, 1)
	}
	return names
}

func propFilters() []topic.Filter {
	var out []topic.Filter
	var grow func(prefix string, n int)
	grow = func(prefix string, n int) {
		out = append(out, topic.MustParseFilter(prefix))
		if n == propMaxLevels {
			return
		}
		out = append(out, topic.MustParseFilter(prefix+".#"))
		if n+1 == propMaxLevels {
			return
		}
		for _, l := range propFilterLevels {
			grow(prefix+"."+l, n+1)
		}
	}
	out = append(out, topic.MustParseFilter("#"))
	for _, first := range append([]string{propReserved}, propFilterLevels...) {
		grow(first, 1)
	}
	return out
}

// nameSet is a set of indexes into propNames.
type nameSet []uint64

func newNameSet(n int) nameSet { return make(nameSet, (n+63)/64) }

func (s nameSet) add(i int)      { s[i/64] |= 1 << (i % 64) }
func (s nameSet) has(i int) bool { return s[i/64]&(1<<(i%64)) != 0 }
func (s nameSet) within(t nameSet) bool { // s ⊆ t
	for i := range s {
		if s[i]&^t[i] != 0 {
			return false
		}
	}
	return true
}
func (s nameSet) meets(t nameSet) bool {
	for i := range s {
		if s[i]&t[i] != 0 {
			return true
		}
	}
	return false
}

// TestCheckSubscribeSound checks CheckSubscribe against the names it is about:
// a Granted filter delivers only receivable names, a Refused one none, a
// Filtered one touches something an allow rule matches; and a refusal's
// reason is true.
func TestCheckSubscribeSound(t *testing.T) {
	seed := *propSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -acl.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	names := propNames()
	filters := propFilters()
	matched := make([]nameSet, len(filters)) // names each filter matches
	for i, f := range filters {
		matched[i] = newNameSet(len(names))
		for j, n := range names {
			if f.Matches(n) {
				matched[i].add(j)
			}
		}
	}
	t.Logf("%d names, %d filters", len(names), len(filters))

	principals := 300
	if testing.Short() {
		principals = 50
	}
	var granted, refused, filtered int
	for range principals {
		pr, allowIdx, denyIdx := randomPrincipal(rng, filters)
		receivable := newNameSet(len(names))
		allowed := newNameSet(len(names)) // matched by some allow, denies ignored
		for j, n := range names {
			if pr.CanReceive(n) {
				receivable.add(j)
			}
			for _, a := range allowIdx {
				if matched[a].has(j) {
					allowed.add(j)
				}
			}
		}
		for i, f := range filters {
			d, reason := pr.CheckSubscribe(f)
			fail := func(format string, args ...any) {
				t.Helper()
				t.Errorf("allow %v deny %v, subscribe %s: %v (%q): "+format,
					append([]any{pr.Subscribe.Allow, pr.Subscribe.Deny, f, d, reason}, args...)...)
			}
			switch d {
			case acl.Granted:
				granted++
				if !matched[i].within(receivable) {
					fail("some names it matches are not receivable")
				}
				if !matched[i].meets(receivable) {
					fail("it matches nothing receivable")
				}
			case acl.Refused:
				refused++
				if matched[i].meets(receivable) {
					fail("some names it matches are receivable")
				}
				switch {
				case strings.Contains(reason, "denied by "):
					by := reason[strings.LastIndex(reason, "denied by ")+len("denied by "):]
					ok := false
					for _, di := range denyIdx {
						if filters[di].String() == by && matched[i].within(matched[di]) {
							ok = true
						}
					}
					if !ok {
						fail("no deny rule %s matches everything the filter does", by)
					}
				case strings.Contains(reason, "no rule allows it"):
					if matched[i].meets(allowed) {
						fail("an allow rule matches some of its names")
					}
				default:
					fail("unexpected reason")
				}
			case acl.Filtered:
				filtered++
				if !matched[i].meets(allowed) {
					fail("no allow rule matches any of its names")
				}
			default:
				fail("unknown decision")
			}
		}
	}
	t.Logf("granted %d, refused %d, filtered %d", granted, refused, filtered)
	if granted == 0 || refused == 0 || filtered == 0 {
		t.Errorf("the random policies did not exercise every decision")
	}
}

// TestDenyWins: a name an allow and a deny rule both match is never allowed,
// for publishing or receiving; a name only an allow matches always is; a
// name no allow matches never is.
func TestDenyWins(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := propNames()
	filters := propFilters()
	for range 200 {
		pr, _, _ := randomPrincipal(rng, filters)
		pr.Publish = acl.Rules{Allow: pr.Subscribe.Deny, Deny: pr.Subscribe.Allow} // a different mix
		for _, check := range []struct {
			op    string
			rules acl.Rules
			can   func(string) bool
		}{
			{"receive", pr.Subscribe, pr.CanReceive},
			{"publish", pr.Publish, pr.CanPublish},
		} {
			for _, n := range names {
				want := matchesAny(check.rules.Allow, n) && !matchesAny(check.rules.Deny, n)
				if got := check.can(n); got != want {
					t.Fatalf("allow %v deny %v: can %s %s = %v, want %v",
						check.rules.Allow, check.rules.Deny, check.op, n, got, want)
				}
			}
		}
	}
}

// TestPublishCacheAgrees replays random name sequences through a small cache
// and compares every answer with CanPublish.
func TestPublishCacheAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	names := propNames()
	filters := propFilters()
	for range 50 {
		pr, _, _ := randomPrincipal(rng, filters)
		pr.Publish = pr.Subscribe
		c := acl.NewPublishCache(pr, 1+rng.IntN(16))
		if c.Principal() != pr {
			t.Fatal("PublishCache.Principal is not the principal it was made for")
		}
		for range 500 {
			n := names[rng.IntN(len(names))]
			if got, want := c.Allowed(n), pr.CanPublish(n); got != want {
				t.Fatalf("allow %v deny %v: cache says %s is %v, CanPublish %v",
					pr.Publish.Allow, pr.Publish.Deny, n, got, want)
			}
		}
	}
}

func matchesAny(fs []topic.Filter, name string) bool {
	for _, f := range fs {
		if f.Matches(name) {
			return true
		}
	}
	return false
}

// randomPrincipal returns a principal with 0 to 3 allow and 0 to 2 deny
// subscribe rules drawn from filters, and the rules' indexes in filters.
func randomPrincipal(rng *rand.Rand, filters []topic.Filter) (*acl.Principal, []int, []int) {
	pick := func(max int) ([]topic.Filter, []int) {
		var fs []topic.Filter
		var idx []int
		for range rng.IntN(max + 1) {
			i := rng.IntN(len(filters))
			fs = append(fs, filters[i])
			idx = append(idx, i)
		}
		return fs, idx
	}
	allow, allowIdx := pick(3)
	deny, denyIdx := pick(2)
	return &acl.Principal{
		Name:      "random",
		UIDs:      []uint32{1},
		Subscribe: acl.Rules{Allow: allow, Deny: deny},
	}, allowIdx, denyIdx
}
