package topic

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func BenchmarkValidateName(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if ValidateName(EventsProcessLifecycle) != nil {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkParseFilter(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseFilter("events.+.lifecycle.#"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFilterMatches(b *testing.B) {
	for _, s := range []string{"events.process.lifecycle", "events.+.lifecycle", "events.#"} {
		f := MustParseFilter(s)
		b.Run(s, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !f.Matches(EventsProcessLifecycle) {
					b.Fatal("no match")
				}
			}
		})
	}
}

// benchFixture is a realistic mix of subscriptions: most are literal, some
// use "+" and a few "#". Names have five levels,
// events.<kind>.<topic>.c<collector>.p<process>.
type benchFixture struct {
	filters []Filter
	names   []string // 3*DefaultCacheSize distinct names, most matching a few filters
}

var (
	fixturesMu sync.Mutex
	fixtures   = map[int]*benchFixture{}
)

// benchVocab generates the levels of fixture names and filters.
type benchVocab struct {
	r          *rand.Rand
	collectors int
}

var (
	benchKinds  = []string{"process", "network", "filesystem", "performance"}
	benchTopics = []string{"lifecycle", "metadata", "tree", "integrity", "anomaly", "batch"}
)

// level returns a random level for position i (0-based, after "events").
func (v benchVocab) level(i int) string {
	switch i {
	case 0:
		return benchKinds[v.r.IntN(len(benchKinds))]
	case 1:
		return benchTopics[v.r.IntN(len(benchTopics))]
	case 2:
		return "c" + strconv.Itoa(v.r.IntN(v.collectors))
	default:
		return "p" + strconv.Itoa(v.r.IntN(4))
	}
}

// filter returns a random filter; shape picks literal, "+" or "#" forms.
func (v benchVocab) filter(shape int) string {
	lv := []string{v.level(0), v.level(1), v.level(2), v.level(3)}
	switch shape {
	case 7:
		lv[0], lv[3] = singleWildcard, singleWildcard
	case 8:
		lv[1] = singleWildcard
	case 9:
		lv[3] = multiWildcard
	}
	return "events." + strings.Join(lv, ".")
}

// instantiate returns a name that f matches, filling wildcards at random.
func (v benchVocab) instantiate(f Filter) string {
	lv := slices.Clone(f.levels[1:])
	for i, l := range lv {
		if l == singleWildcard || l == multiWildcard {
			lv[i] = v.level(i)
		}
	}
	return "events." + strings.Join(lv, ".")
}

// fixture builds the n-subscription fixture on first use, so plain go test
// never pays for it.
func fixture(n int) *benchFixture {
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if fx := fixtures[n]; fx != nil {
		return fx
	}
	v := benchVocab{r: rand.New(rand.NewPCG(uint64(n), 42)), collectors: max(n/8, 1)}
	fx := &benchFixture{}
	for i := range n {
		fx.filters = append(fx.filters, MustParseFilter(v.filter(i%10)))
	}
	// Names published to subscribed topics, then, once small fixtures run
	// out of those, names nobody subscribes to.
	seen := make(map[string]bool)
	for tries := 0; len(fx.names) < 3*DefaultCacheSize; tries++ {
		name := v.instantiate(fx.filters[v.r.IntN(n)])
		if tries > 10*DefaultCacheSize {
			v.collectors = 1 << 20
			name = v.filter(0)
		}
		if !seen[name] {
			seen[name] = true
			fx.names = append(fx.names, name)
		}
	}
	fixtures[n] = fx
	return fx
}

func (fx *benchFixture) index(opts IndexOptions) *Index[int, []int] {
	x := NewIndex(func(_ string, m []int) []int { return m }, opts)
	for i, f := range fx.filters {
		x.Insert(f, i)
	}
	return x
}

func BenchmarkIndexMatch(b *testing.B) {
	for _, n := range []int{10, 1000, 100000} {
		b.Run(fmt.Sprintf("subs=%d/hit", n), func(b *testing.B) {
			fx := fixture(n)
			x := fx.index(IndexOptions{})
			names := fx.names[:64] // all fit in the cache
			for _, name := range names {
				x.Match(name)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				x.Match(names[i%len(names)])
			}
			b.StopTimer()
			if s := x.Stats(); s.Misses != uint64(len(names)) {
				b.Fatalf("expected only hits: %+v", s)
			}
		})
		// A publisher's stream on one topic, as the broker routes it: the
		// session's memo answers, from the name's bytes.
		b.Run(fmt.Sprintf("subs=%d/memo", n), func(b *testing.B) {
			fx := fixture(n)
			x := fx.index(IndexOptions{})
			m := NewMemo(x)
			name := []byte(fx.names[0])
			m.Match(fx.names[0])
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, ok := m.Cached(name); !ok {
					b.Fatal("memo miss")
				}
			}
		})
		// Three times more distinct names than the cache holds, cycled: nearly
		// every Match walks the trie, compiles, stores and evicts.
		b.Run(fmt.Sprintf("subs=%d/miss", n), func(b *testing.B) {
			fx := fixture(n)
			x := fx.index(IndexOptions{})
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				x.Match(fx.names[i%len(fx.names)])
			}
			b.StopTimer()
			s := x.Stats()
			b.ReportMetric(float64(s.Misses)/float64(s.Hits+s.Misses), "misses/op")
		})
		// The trie walk and compile alone.
		b.Run(fmt.Sprintf("subs=%d/nocache", n), func(b *testing.B) {
			fx := fixture(n)
			x := fx.index(noCache)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				x.Match(fx.names[i%len(fx.names)])
			}
		})
	}
}

// BenchmarkIndexInsertRemove measures one subscribe plus one unsubscribe
// against an index that already holds 100,000 subscriptions: "existing" adds
// a value to filters already present, "new" creates and prunes trie nodes.
func BenchmarkIndexInsertRemove(b *testing.B) {
	fresh := make([]Filter, 1024)
	for i := range fresh {
		fresh[i] = MustParseFilter(fmt.Sprintf("events.process.+.subscriber%d.#", i))
	}
	for _, tc := range []struct {
		name    string
		filters func(*benchFixture) []Filter
	}{
		{"existing", func(fx *benchFixture) []Filter { return fx.filters }},
		{"new", func(*benchFixture) []Filter { return fresh }},
	} {
		b.Run("subs=100000/"+tc.name, func(b *testing.B) {
			fx := fixture(100000)
			x := fx.index(IndexOptions{})
			filters := tc.filters(fx)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				f := filters[i%len(filters)]
				x.Insert(f, -1)
				if !x.Remove(f, -1) {
					b.Fatal("Remove = false")
				}
			}
			b.StopTimer()
			if x.Count() != len(fx.filters) {
				b.Fatalf("Count = %d, want %d", x.Count(), len(fx.filters))
			}
		})
	}
}
