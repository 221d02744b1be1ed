package acl

import (
	"strconv"
	"testing"

	"github.com/daemoneye/eventbus/topic"
)

func TestPublishCacheBounded(t *testing.T) {
	p := &Principal{
		Name: "procmond",
		UIDs: []uint32{0},
		Publish: Rules{
			Allow: []topic.Filter{topic.MustParseFilter("events.#")},
			Deny:  []topic.Filter{topic.MustParseFilter("events.secret.#")},
		},
	}
	c := NewPublishCache(p, 8)
	for i := range 100 {
		name := "events." + strconv.Itoa(i)
		if i%3 == 0 {
			name = "events.secret." + strconv.Itoa(i)
		}
		want := i%3 != 0
		for range 2 {
			if got := c.Allowed(name); got != want {
				t.Fatalf("Allowed(%s) = %v, want %v", name, got, want)
			}
		}
		if len(c.known) > 8 {
			t.Fatalf("after %d topics the cache holds %d entries, want at most 8", i+1, len(c.known))
		}
	}
	if len(c.known) == 0 {
		t.Error("the cache remembers nothing")
	}
}

func TestPublishCacheDefaultSize(t *testing.T) {
	for _, max := range []int{0, -1} {
		if c := NewPublishCache(&Principal{}, max); c.max != DefaultPublishCacheSize {
			t.Errorf("NewPublishCache(p, %d) bound %d, want %d", max, c.max, DefaultPublishCacheSize)
		}
	}
}
