package broker_test

import (
	"fmt"
	"io"
	"testing"

	"github.com/daemoneye/eventbus/broker"
)

// BenchmarkPublishInProcess measures Broker.Publish routing one event to n
// socket sessions, each with its own outbound queue and writer, whose peers
// drain their sockets. It reports the events a lagging reader lost as
// dropped/op.
func BenchmarkPublishInProcess(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("receivers=%d", n), func(b *testing.B) {
			tb := startBroker(b, broker.Config{MaxConnections: n + 1})
			for range n {
				r := dialRaw(b, tb.sock)
				r.hello("bench")
				r.mustSubscribe(1, "bench.#")
				go io.Copy(io.Discard, r.conn) // ends when the broker closes
			}
			payload := make([]byte, 128)
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for b.Loop() {
				got, err := tb.Publish("bench.process.start", payload, nil)
				if err != nil {
					b.Fatal(err)
				}
				if got == 0 && tb.Stats().Dropped == 0 {
					b.Fatal("event queued for nobody, and nothing dropped")
				}
			}
			b.ReportMetric(float64(tb.Stats().Dropped)/float64(b.N), "dropped/op")
		})
	}
}

// BenchmarkPublishLocalSubscribers routes to n in-process subscriptions of
// the hosting program, which share one queue: the cost of grouping ids.
func BenchmarkPublishLocalSubscribers(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subscriptions=%d", n), func(b *testing.B) {
			tb := startBroker(b, broker.Config{})
			for range n {
				if _, err := tb.Subscribe("bench.#", func(*broker.Message) {}); err != nil {
					b.Fatal(err)
				}
			}
			payload := make([]byte, 128)
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tb.Publish("bench.process.start", payload, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
