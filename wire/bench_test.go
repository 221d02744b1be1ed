package wire

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

var benchSizes = []struct {
	name string
	n    int
}{
	{"128B", 128},
	{"1KiB", 1 << 10},
	{"64KiB", 64 << 10},
}

// benchCases runs fn as sub-benchmarks named like ieee/128B.
func benchCases(b *testing.B, fn func(b *testing.B, c CRC, n int)) {
	for _, c := range crcVariants {
		for _, s := range benchSizes {
			b.Run(c.String()+"/"+s.name, func(b *testing.B) { fn(b, c, s.n) })
		}
	}
}

// BenchmarkAppendFrame frames an already encoded message: checksum and copy.
func BenchmarkAppendFrame(b *testing.B) {
	benchCases(b, func(b *testing.B, c CRC, n int) {
		msg := bytes.Repeat([]byte{0x6b}, n)
		dst := make([]byte, 0, HeaderSize+n)
		b.ReportAllocs()
		b.SetBytes(int64(n))
		for b.Loop() {
			dst = c.AppendFrame(dst[:0], msg)
		}
	})
}

// BenchmarkAppendEnvelope encodes and frames a Publish of n bytes.
func BenchmarkAppendEnvelope(b *testing.B) {
	benchCases(b, func(b *testing.B, c CRC, n int) {
		env := publishOfSize(b, n)
		dst := make([]byte, 0, HeaderSize+n)
		b.ReportAllocs()
		b.SetBytes(int64(n))
		for b.Loop() {
			var err error
			if dst, err = c.AppendEnvelope(dst[:0], env); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkReadFrame reads frames of n message bytes from a pre-built
// stream, one frame per op. At the end of the stream the same Reader goes on
// over the rewound input, so neither the input nor the Reader is allocated
// in the loop.
func BenchmarkReadFrame(b *testing.B) {
	benchCases(b, func(b *testing.B, c CRC, n int) {
		frames := max(16, (1<<20)/n)
		var stream []byte
		for range frames {
			var err error
			if stream, err = c.AppendEnvelope(stream, publishOfSize(b, n)); err != nil {
				b.Fatal(err)
			}
		}
		src := bytes.NewReader(stream)
		r := NewReader(src, Config{CRC: c})
		b.ReportAllocs()
		b.SetBytes(int64(n))
		for b.Loop() {
			msg, err := r.ReadFrame()
			if err == io.EOF {
				src.Reset(stream)
				msg, err = r.ReadFrame()
			}
			if err != nil || len(msg) != n {
				b.Fatalf("ReadFrame: %d bytes, %v", len(msg), err)
			}
		}
	})
}

// BenchmarkAppendDeliveryFrame appends one receiver's frame for a shared
// Deliver with a 128-byte payload and one matching subscription.
func BenchmarkAppendDeliveryFrame(b *testing.B) {
	for _, c := range crcVariants {
		b.Run(fmt.Sprintf("%v/128B", c), func(b *testing.B) {
			shared := &pb.Envelope{Kind: &pb.Envelope_Deliver{Deliver: &pb.Deliver{
				Topic:             "events.process.start",
				Payload:           bytes.Repeat([]byte{0x42}, 128),
				TimestampUnixNano: 1_700_000_000_000_000_000,
				Publisher:         &pb.Publisher{ClientName: "procmond", SessionId: 7},
			}}}
			msg, sum, err := c.EncodeShared(shared)
			if err != nil {
				b.Fatal(err)
			}
			ids := []uint32{12}
			dst := make([]byte, 0, 1024)
			b.ReportAllocs()
			b.SetBytes(int64(len(c.AppendDeliveryFrame(nil, msg, sum, ids, 0)) - HeaderSize))
			for b.Loop() {
				dst = c.AppendDeliveryFrame(dst[:0], msg, sum, ids, 0)
			}
		})
	}
}
