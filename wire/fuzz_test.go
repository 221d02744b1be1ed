package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"google.golang.org/protobuf/proto"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// fuzzMax is the reader's limit while fuzzing: small, so that every frame
// the fuzzer can announce past it must be refused before any allocation.
const fuzzMax = 64 << 10

// FuzzReadFrame feeds arbitrary bytes to a Reader and compares every result
// with a plain reference parser of the frame format. Inputs and the seed
// corpus in testdata/fuzz/FuzzReadFrame are (stream, castagnoli).
func FuzzReadFrame(f *testing.F) {
	for i := range goldenFrames {
		for _, c := range crcVariants {
			frame := mustHex(f, goldenHex(c, i))
			f.Add(frame, c == CRCCastagnoli)
			f.Add(bytes.Repeat(frame, 3), c == CRCCastagnoli)
			f.Add(frame, c != CRCCastagnoli) // variant mismatch
		}
	}
	// Seeds stay small: minimizing what the fuzzer finds from a large seed
	// takes longer than a short fuzzing run.
	for _, tc := range readCases(f) {
		if len(tc.in) <= 1<<10 {
			f.Add(tc.in, false)
		}
	}
	f.Add(frameHeader(fuzzMax, 0), false)
	f.Add(frameHeader(fuzzMax+1, 0), true)

	f.Fuzz(func(t *testing.T, data []byte, castagnoli bool) {
		c := CRCIEEE
		if castagnoli {
			c = CRCCastagnoli
		}
		cfg := Config{CRC: c, MaxFrameSize: fuzzMax}
		checkAgainstReference(t, NewReader(bytes.NewReader(data), cfg), data, c)
		checkAgainstReference(t, NewReader(iotest.HalfReader(bytes.NewReader(data)), cfg), data, c)
	})
}

// checkAgainstReference reads frames from r until an error and checks each
// result against what the frame format says data holds.
func checkAgainstReference(t *testing.T, r *Reader, data []byte, c CRC) {
	t.Helper()
	for off, first := 0, true; ; first = false {
		msg, err := r.ReadFrame()
		rest := data[off:]

		var want error // nil: a frame
		var n, sum uint32
		switch {
		case len(rest) == 0:
			want = io.EOF
		case len(rest) < HeaderSize:
			want = ErrTruncated
		default:
			n = binary.LittleEndian.Uint32(rest)
			sum = binary.LittleEndian.Uint32(rest[4:])
			switch {
			case n == 0:
				want = ErrEmptyFrame
			case n > fuzzMax:
				want = ErrFrameTooLarge
			case uint64(len(rest)-HeaderSize) < uint64(n):
				want = ErrTruncated
			case refChecksum(c, rest[HeaderSize:HeaderSize+n]) == sum:
			case first && refChecksum(c.other(), rest[HeaderSize:HeaderSize+n]) == sum:
				want = ErrCRCVariant
			default:
				want = ErrChecksum
			}
		}

		if want == nil {
			if err != nil {
				t.Fatalf("offset %d: ReadFrame: %v; want the %d-byte frame there", off, err, n)
			}
			if body := rest[HeaderSize : HeaderSize+n]; !bytes.Equal(msg, body) {
				t.Fatalf("offset %d: ReadFrame returned %x, want %x", off, msg, body)
			}
			if refChecksum(c, msg) != sum {
				t.Fatalf("offset %d: returned a frame whose checksum does not match", off)
			}
			off += HeaderSize + int(n)
			continue
		}
		if msg != nil {
			t.Fatalf("offset %d: ReadFrame returned %d bytes with its error %v", off, len(msg), err)
		}
		if want == io.EOF {
			if err != io.EOF {
				t.Fatalf("offset %d at the end: got %v, want io.EOF", off, err)
			}
			return
		}
		if !errors.Is(err, want) {
			t.Fatalf("offset %d: got %v, want %v", off, err, want)
		}
		for _, s := range sentinels {
			if s != want && errors.Is(err, s) {
				t.Fatalf("offset %d: %v wraps %v as well as %v", off, err, s, want)
			}
		}
		if want == ErrCRCVariant {
			var ve *CRCVariantError
			if !errors.As(err, &ve) || ve.Local != c || ve.Peer != c.other() {
				t.Fatalf("offset %d: %#v, want a CRCVariantError{%v, %v}", off, err, c, c.other())
			}
		}
		return
	}
}

// FuzzDecodeEnvelope checks that DecodeEnvelope never panics, fails only
// with ErrBadMessage, and that whatever it accepts survives a trip through
// the codec unchanged.
func FuzzDecodeEnvelope(f *testing.F) {
	for i := range goldenFrames {
		f.Add(mustHex(f, goldenFrames[i].ieee)[HeaderSize:])
	}
	msg, sum, err := CRCIEEE.EncodeShared(sharedDeliver())
	if err != nil {
		f.Fatal(err)
	}
	for _, rc := range deliveryReceivers {
		f.Add(CRCIEEE.AppendDeliveryFrame(nil, msg, sum, rc.ids, rc.dropped)[HeaderSize:])
	}
	for _, s := range []string{
		"",                                   // no kind
		"ff",                                 // invalid tag
		"4280",                               // truncated
		"0a040a02ff01",                       // invalid UTF-8
		"7a020801",                           // delivery without kind
		"a006054202080a",                     // unknown field 100, then a ping
		"4202080142020802",                   // two pings: the last one wins
		"42020801" + "32030a0174" + "a00601", // ping, then a publish: the last kind wins
	} {
		f.Add(mustHex(f, s))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		var env pb.Envelope
		if err := DecodeEnvelope(data, &env); err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("DecodeEnvelope(%x) = %v, want ErrBadMessage", data, err)
			}
			return
		}
		if env.GetKind() == nil {
			t.Fatalf("DecodeEnvelope(%x) accepted an envelope with no kind", data)
		}
		for _, c := range crcVariants {
			frame, err := c.AppendEnvelope(nil, &env)
			if err != nil {
				t.Fatalf("AppendEnvelope of a decoded envelope: %v", err)
			}
			got, err := NewReader(bytes.NewReader(frame), Config{CRC: c, MaxFrameSize: LimitMaxFrameSize}).ReadFrame()
			if err != nil {
				t.Fatalf("ReadFrame of a re-encoded envelope: %v", err)
			}
			var again pb.Envelope
			if err := DecodeEnvelope(got, &again); err != nil {
				t.Fatalf("DecodeEnvelope of a re-encoded envelope: %v", err)
			}
			if !proto.Equal(&env, &again) {
				t.Fatalf("re-encoded envelope differs:\n%v\n%v", &env, &again)
			}
		}
	})
}
