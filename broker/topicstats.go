package broker

import (
	"sort"
	"sync"
	"sync/atomic"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// DefaultMaxTopicStats bounds the topics counted one by one.
const DefaultMaxTopicStats = 1024

// otherTopics names the counter that sums every topic past the bound.
const otherTopics = "*"

// topicCounter counts one topic's traffic. Routes hold a pointer to it, so
// counting costs two atomic adds per publish and no lookup.
type topicCounter struct {
	published, delivered atomic.Uint64
}

// topicRegistry maps topics to counters. Topic names come from clients, so
// the map is bounded: past max topics, everything is summed under "*".
type topicRegistry struct {
	max int

	mu     sync.Mutex // guards byName
	byName map[string]*topicCounter
	other  topicCounter
}

func newTopicRegistry(max int) *topicRegistry {
	return &topicRegistry{max: max, byName: make(map[string]*topicCounter)}
}

// counter returns name's counter; called when a route is compiled.
func (r *topicRegistry) counter(name string) *topicCounter {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.byName[name]; c != nil {
		return c
	}
	if len(r.byName) >= r.max {
		return &r.other
	}
	c := new(topicCounter)
	r.byName[name] = c
	return c
}

// snapshot returns every counter, busiest first, with "*" last.
func (r *topicRegistry) snapshot() []*pb.TopicStats {
	r.mu.Lock()
	out := make([]*pb.TopicStats, 0, len(r.byName)+1)
	for name, c := range r.byName {
		out = append(out, &pb.TopicStats{Topic: name, Published: c.published.Load(), Delivered: c.delivered.Load()})
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Published != out[j].Published {
			return out[i].Published > out[j].Published
		}
		return out[i].Topic < out[j].Topic
	})
	if p := r.other.published.Load(); p > 0 {
		out = append(out, &pb.TopicStats{Topic: otherTopics, Published: p, Delivered: r.other.delivered.Load()})
	}
	return out
}
