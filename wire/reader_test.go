package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"google.golang.org/protobuf/proto"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// shortReaders deliver the same stream in differently sized pieces.
var shortReaders = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"bytes", func(r io.Reader) io.Reader { return r }},
	{"onebyte", iotest.OneByteReader},
	{"half", iotest.HalfReader},
	{"dataerr", iotest.DataErrReader},
}

var sentinels = []error{ErrFrameTooLarge, ErrEmptyFrame, ErrChecksum, ErrCRCVariant, ErrTruncated, ErrBadMessage}

// publishOfSize returns a Publish envelope whose encoding is exactly n bytes.
// Near a varint boundary no payload length fits, so the topic grows a byte.
func publishOfSize(t testing.TB, n int) *pb.Envelope {
	t.Helper()
	for topic := "events.bulk"; len(topic) < 16; topic += "x" {
		p := &pb.Publish{Topic: topic}
		env := &pb.Envelope{Kind: &pb.Envelope_Publish{Publish: p}}
		size := n - 40
		for range 4 {
			if size < 0 {
				break
			}
			p.Payload = make([]byte, size)
			for i := range p.Payload {
				p.Payload[i] = byte(i*7 + n)
			}
			got := proto.Size(env)
			if got == n {
				return env
			}
			size += n - got
		}
	}
	t.Fatalf("no Publish encodes to exactly %d bytes", n)
	return nil
}

func pingEnv(nonce uint64) *pb.Envelope {
	return &pb.Envelope{Kind: &pb.Envelope_Ping{Ping: &pb.Ping{Nonce: nonce}}}
}

// roundTripMax is the configured maximum of the round trip: above four
// bufio buffers, so that the largest frame also exercises the path that
// drops an oversized body buffer after use.
const roundTripMax = 160 << 10

func roundTripEnvelopes(t testing.TB) []*pb.Envelope {
	envs := []*pb.Envelope{
		goldenFrames[0].env,
		goldenFrames[1].env,
		publishOfSize(t, readBufferSize-1),
		publishOfSize(t, readBufferSize), // largest frame served from the bufio buffer
		pingEnv(2),
		publishOfSize(t, readBufferSize+1), // smallest frame with its own buffer
		publishOfSize(t, 40<<10),
		goldenFrames[2].env,
		publishOfSize(t, roundTripMax), // exactly the maximum
		pingEnv(3),
		publishOfSize(t, 100<<10),
		publishOfSize(t, 5000),
		pingEnv(1<<63 + 1),
	}
	// Many small frames of assorted sizes, so that headers and bodies
	// straddle the refills of the bufio buffer at many offsets.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 400 {
		envs = append(envs, publishOfSize(t, 40+rng.IntN(600)))
	}
	return append(envs, pingEnv(4))
}

func TestRoundTrip(t *testing.T) {
	envs := roundTripEnvelopes(t)
	for _, c := range crcVariants {
		var stream []byte
		var bodies [][]byte
		for _, env := range envs {
			start := len(stream)
			var err error
			if stream, err = c.AppendEnvelope(stream, env); err != nil {
				t.Fatal(err)
			}
			bodies = append(bodies, checkFrame(t, c, stream[start:]))
		}
		for _, sr := range shortReaders {
			t.Run(c.String()+"/"+sr.name, func(t *testing.T) {
				r := NewReader(sr.wrap(bytes.NewReader(stream)), Config{CRC: c, MaxFrameSize: roundTripMax})
				var env pb.Envelope
				for i, want := range envs {
					msg, err := r.ReadFrame()
					if err != nil {
						t.Fatalf("frame %d: ReadFrame: %v", i, err)
					}
					if !bytes.Equal(msg, bodies[i]) {
						t.Fatalf("frame %d: ReadFrame returned %d bytes that differ from the %d written", i, len(msg), len(bodies[i]))
					}
					if err := DecodeEnvelope(msg, &env); err != nil {
						t.Fatalf("frame %d: DecodeEnvelope: %v", i, err)
					}
					if !proto.Equal(&env, want) {
						t.Fatalf("frame %d: decoded envelope differs from the one encoded", i)
					}
					// Borrowed bytes stay valid until the next ReadFrame.
					if !bytes.Equal(msg, bodies[i]) {
						t.Fatalf("frame %d: the returned bytes changed before the next ReadFrame", i)
					}
				}
				for range 2 {
					if msg, err := r.ReadFrame(); err != io.EOF {
						t.Fatalf("at the end of the stream: %x, %v; want io.EOF", msg, err)
					}
				}
			})
		}
	}
}

// TestReaderLargeBuffer checks the Reader's own buffer for frames larger
// than its bufio buffer: kept for reuse when moderate, let go when large.
func TestReaderLargeBuffer(t *testing.T) {
	var stream []byte
	moderate, smaller := readBufferSize+8<<10, readBufferSize+4<<10
	for _, n := range []int{moderate, smaller, 4*readBufferSize + 1} {
		stream = CRCIEEE.AppendFrame(stream, bytes.Repeat([]byte{byte(n)}, n))
	}
	r := NewReader(bytes.NewReader(stream), Config{})
	if _, err := r.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	if cap(r.large) < moderate {
		t.Errorf("after a %d-byte frame the buffer has cap %d; want it kept", moderate, cap(r.large))
	}
	kept := r.large
	if _, err := r.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	if &r.large[:1][0] != &kept[:1][0] {
		t.Errorf("a %d-byte frame did not reuse the buffer", smaller)
	}
	msg, err := r.ReadFrame()
	if err != nil || len(msg) != 4*readBufferSize+1 {
		t.Fatalf("large frame: %d bytes, %v", len(msg), err)
	}
	if r.large != nil {
		t.Errorf("after a %d-byte frame the Reader still holds a buffer of cap %d", len(msg), cap(r.large))
	}
}

// TestMaxFrameSize checks that the limit counts message bytes only and is
// inclusive.
func TestMaxFrameSize(t *testing.T) {
	tests := []struct {
		max  int // Config.MaxFrameSize
		n    int // message bytes
		fits bool
	}{
		{0, DefaultMaxFrameSize, true},
		{0, DefaultMaxFrameSize + 1, false},
		{MinMaxFrameSize, MinMaxFrameSize, true},
		{MinMaxFrameSize, MinMaxFrameSize + 1, false},
		{64 << 10, 64 << 10, true},
		{64 << 10, 64<<10 + 1, false},
		{-1, DefaultMaxFrameSize, true}, // invalid; must not lift the limit
		{-1, DefaultMaxFrameSize + 1, false},
	}
	for _, tt := range tests {
		for _, c := range crcVariants {
			body := bytes.Repeat([]byte{0xA5, 0x17, 0x3C}, tt.n/3+1)[:tt.n]
			frame := c.AppendFrame(nil, body)
			msg, err := NewReader(bytes.NewReader(frame), Config{CRC: c, MaxFrameSize: tt.max}).ReadFrame()
			switch {
			case tt.fits && err != nil:
				t.Errorf("max %d, %d bytes, %v: %v", tt.max, tt.n, c, err)
			case tt.fits && !bytes.Equal(msg, body):
				t.Errorf("max %d, %d bytes, %v: wrong bytes returned", tt.max, tt.n, c)
			case !tt.fits && !errors.Is(err, ErrFrameTooLarge):
				t.Errorf("max %d, %d bytes, %v: %v, want ErrFrameTooLarge", tt.max, tt.n, c, err)
			}
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg Config
		ok  bool
	}{
		{Config{}, true},
		{Config{CRC: CRCCastagnoli}, true},
		{Config{MaxFrameSize: MinMaxFrameSize}, true},
		{Config{MaxFrameSize: DefaultMaxFrameSize}, true},
		{Config{CRC: CRCCastagnoli, MaxFrameSize: LimitMaxFrameSize}, true},
		{Config{CRC: 2}, false},
		{Config{CRC: 255, MaxFrameSize: DefaultMaxFrameSize}, false},
		{Config{MaxFrameSize: MinMaxFrameSize - 1}, false},
		{Config{MaxFrameSize: 1}, false},
		{Config{MaxFrameSize: -1}, false},
		{Config{MaxFrameSize: LimitMaxFrameSize + 1}, false},
		{Config{MaxFrameSize: 1 << 40}, false},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%+v.Validate() = %v, want ok=%v", tt.cfg, err, tt.ok)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "wire: ") {
			t.Errorf("%+v.Validate() error %q lacks the wire: prefix", tt.cfg, err)
		}
	}
}

// readCase is one stream that ends in an error; the fuzz target reuses the
// inputs as seeds.
type readCase struct {
	name   string
	cfg    Config
	in     []byte
	frames int    // good frames before the error
	want   error  // io.EOF means exactly io.EOF
	msg    string // in the error text
}

func readCases(t testing.TB) []readCase {
	ping := mustHex(t, goldenFrames[0].ieee)
	hello := mustHex(t, goldenFrames[1].ieee)
	pingC := mustHex(t, goldenFrames[0].crc32c)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	flip := func(b []byte, i int) []byte {
		b = append([]byte(nil), b...)
		b[i] ^= 0x01
		return b
	}
	small := Config{MaxFrameSize: MinMaxFrameSize}
	return []readCase{
		{name: "empty stream", in: nil, want: io.EOF},
		{name: "end after frames", in: cat(ping, hello), frames: 2, want: io.EOF},
		{name: "zero length", in: frameHeader(0, 0), want: ErrEmptyFrame},
		{name: "zero length with bytes after", in: cat(frameHeader(0, 0), ping), want: ErrEmptyFrame},
		{name: "zero length after a frame", in: cat(ping, frameHeader(0, 0)), frames: 1, want: ErrEmptyFrame},
		{name: "one over the default", in: frameHeader(DefaultMaxFrameSize+1, 0), want: ErrFrameTooLarge,
			msg: "1048577 bytes announced, limit is 1048576"},
		{name: "4 GiB length", in: cat(frameHeader(0xFFFFFFFF, 0xFFFFFFFF), ping), want: ErrFrameTooLarge,
			msg: "4294967295 bytes announced"},
		{name: "one over the configured max", cfg: small,
			in:   CRCIEEE.AppendFrame(nil, make([]byte, MinMaxFrameSize+1)),
			want: ErrFrameTooLarge, msg: "4097 bytes announced, limit is 4096"},
		{name: "too large after a frame", cfg: small, in: cat(ping, frameHeader(1<<20, 0)), frames: 1, want: ErrFrameTooLarge},
		{name: "one header byte", in: ping[:1], want: ErrTruncated, msg: "after 1 of 8 header bytes"},
		{name: "seven header bytes", in: ping[:7], want: ErrTruncated, msg: "after 7 of 8 header bytes"},
		{name: "header cut after a frame", in: cat(hello, ping[:3]), frames: 1, want: ErrTruncated, msg: "after 3 of 8 header bytes"},
		{name: "no body", in: ping[:8], want: ErrTruncated, msg: "after 0 of 4 message bytes"},
		{name: "body cut", in: ping[:10], want: ErrTruncated, msg: "after 2 of 4 message bytes"},
		{name: "body cut after a frame", in: cat(ping, hello[:len(hello)-1]), frames: 1, want: ErrTruncated, msg: "after 13 of 14 message bytes"},
		{name: "large body cut", in: cat(frameHeader(40000, 0), make([]byte, 1000)), want: ErrTruncated, msg: "after 1000 of 40000 message bytes"},
		{name: "bad checksum", in: flip(ping, 4), want: ErrChecksum, msg: "frame says 0xac03215b"},
		{name: "corrupt body", in: flip(hello, 12), want: ErrChecksum, msg: "computed"},
		{name: "corrupt length", in: cat(flip(ping, 0), frameHeader(0, 0)), want: ErrChecksum},
		{name: "bad checksum after a frame", in: cat(ping, flip(hello, 7)), frames: 1, want: ErrChecksum},
		{name: "castagnoli first frame", in: pingC, want: ErrCRCVariant, msg: "peer uses castagnoli"},
		{name: "castagnoli later frame", in: cat(ping, pingC), frames: 1, want: ErrChecksum, msg: "with ieee"},
	}
}

func TestReadFrameErrors(t *testing.T) {
	for _, tc := range readCases(t) {
		for _, sr := range shortReaders {
			t.Run(tc.name+"/"+sr.name, func(t *testing.T) {
				r := NewReader(sr.wrap(bytes.NewReader(tc.in)), tc.cfg)
				var err error
				frames := 0
				for ; frames <= tc.frames; frames++ {
					var msg []byte
					if msg, err = r.ReadFrame(); err != nil {
						if msg != nil {
							t.Errorf("ReadFrame returned %d bytes with its error", len(msg))
						}
						break
					}
				}
				if frames != tc.frames {
					t.Fatalf("%d good frames before %v, want %d", frames, err, tc.frames)
				}
				if tc.want == io.EOF {
					if err != io.EOF {
						t.Fatalf("got %v, want io.EOF itself", err)
					}
					return
				}
				checkSentinel(t, err, tc.want)
				if !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("error %q does not say %q", err, tc.msg)
				}
			})
		}
	}
}

// checkSentinel checks that err wraps want and no other sentinel of the
// package.
func checkSentinel(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want an error wrapping %v", err, want)
	}
	for _, s := range sentinels {
		if s != want && errors.Is(err, s) {
			t.Errorf("error %v wraps %v as well as %v", err, s, want)
		}
	}
	if errors.Is(err, io.EOF) {
		t.Errorf("error %v wraps io.EOF", err)
	}
	if !strings.HasPrefix(err.Error(), "wire: ") {
		t.Errorf("error %q lacks the wire: prefix", err)
	}
}

// headerOnlyReader serves a header and fails the test if anything more is
// read: the reader must decide on the header alone.
type headerOnlyReader struct {
	t   *testing.T
	hdr []byte
}

func (r *headerOnlyReader) Read(p []byte) (int, error) {
	if len(r.hdr) == 0 {
		r.t.Errorf("Read called again after the %d header bytes: the body is being read", HeaderSize)
		return 0, errors.New("test: body must not be read")
	}
	n := copy(p, r.hdr)
	r.hdr = r.hdr[n:]
	return n, nil
}

func TestRejectedHeaderReadsNoBody(t *testing.T) {
	tests := []struct {
		name string
		max  int
		n    uint32
		want error
	}{
		{"zero length", 0, 0, ErrEmptyFrame},
		{"default max + 1", 0, DefaultMaxFrameSize + 1, ErrFrameTooLarge},
		{"4 GiB", 0, 0xFFFFFFFF, ErrFrameTooLarge},
		{"4 GiB, largest max", LimitMaxFrameSize, 0xFFFFFFFF, ErrFrameTooLarge},
		{"limit + 1, largest max", LimitMaxFrameSize, LimitMaxFrameSize + 1, ErrFrameTooLarge},
		{"negative max", -1, DefaultMaxFrameSize + 1, ErrFrameTooLarge},
	}
	for _, tt := range tests {
		for _, sr := range shortReaders[:2] {
			t.Run(tt.name+"/"+sr.name, func(t *testing.T) {
				src := &headerOnlyReader{t: t, hdr: frameHeader(tt.n, 0x12345678)}
				r := NewReader(sr.wrap(src), Config{MaxFrameSize: tt.max})

				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				_, err := r.ReadFrame()
				runtime.ReadMemStats(&after)

				checkSentinel(t, err, tt.want)
				if len(src.hdr) != 0 {
					t.Errorf("%d header bytes left unread", len(src.hdr))
				}
				// Nothing close to the announced size may be allocated.
				if got := after.TotalAlloc - before.TotalAlloc; got > 256<<10 {
					t.Errorf("rejecting the header allocated %d bytes", got)
				}
			})
		}
	}
}

func TestCRCVariantMismatch(t *testing.T) {
	for _, local := range crcVariants {
		peer := local.other()
		t.Run("first frame/"+local.String(), func(t *testing.T) {
			stream := mustHex(t, goldenHex(peer, 0)+goldenHex(peer, 1))
			_, err := NewReader(bytes.NewReader(stream), Config{CRC: local}).ReadFrame()
			checkSentinel(t, err, ErrCRCVariant)
			var ve *CRCVariantError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v is no *CRCVariantError", err)
			}
			if ve.Local != local || ve.Peer != peer {
				t.Errorf("CRCVariantError{Local: %v, Peer: %v}, want {%v, %v}", ve.Local, ve.Peer, local, peer)
			}
			wantMsg := fmt.Sprintf("peer uses %s, this end is configured for %s", peer, local)
			if !strings.Contains(err.Error(), wantMsg) {
				t.Errorf("error %q does not say %q", err, wantMsg)
			}
		})
		t.Run("later frame/"+local.String(), func(t *testing.T) {
			stream := mustHex(t, goldenHex(local, 0)+goldenHex(peer, 1))
			r := NewReader(bytes.NewReader(stream), Config{CRC: local})
			if _, err := r.ReadFrame(); err != nil {
				t.Fatalf("first frame: %v", err)
			}
			_, err := r.ReadFrame()
			checkSentinel(t, err, ErrChecksum)
			var ve *CRCVariantError
			if errors.As(err, &ve) {
				t.Errorf("later frame reported as %v", ve)
			}
		})
		t.Run("first frame corrupt/"+local.String(), func(t *testing.T) {
			frame := mustHex(t, goldenHex(local, 1))
			frame[len(frame)-1] ^= 0x80
			_, err := NewReader(bytes.NewReader(frame), Config{CRC: local}).ReadFrame()
			checkSentinel(t, err, ErrChecksum)
		})
	}
}

func TestReaderErrorPropagates(t *testing.T) {
	errBoom := errors.New("connection reset by test")
	ping := mustHex(t, goldenFrames[0].ieee)
	then := func(data []byte) io.Reader {
		return io.MultiReader(bytes.NewReader(data), iotest.ErrReader(errBoom))
	}
	tests := []struct {
		name   string
		r      io.Reader
		frames int
		want   error
	}{
		{"at once", iotest.ErrReader(errBoom), 0, errBoom},
		{"inside the header", then(ping[:3]), 0, errBoom},
		{"after the header", then(ping[:8]), 0, errBoom},
		{"inside the body", then(ping[:10]), 0, errBoom},
		{"inside a large body", then(append(frameHeader(40000, 0), make([]byte, 1000)...)), 0, errBoom},
		{"between frames", then(ping), 1, errBoom},
		{"timeout", iotest.TimeoutReader(iotest.OneByteReader(bytes.NewReader(ping))), 0, iotest.ErrTimeout},
	}
	for _, tt := range tests {
		r := NewReader(tt.r, Config{})
		for i := range tt.frames {
			if _, err := r.ReadFrame(); err != nil {
				t.Fatalf("%s: frame %d: %v", tt.name, i, err)
			}
		}
		_, err := r.ReadFrame()
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
		for _, s := range append(sentinels, io.EOF) {
			if errors.Is(err, s) {
				t.Errorf("%s: reader error reported as %v", tt.name, s)
			}
		}
	}
}

func TestNextBuffered(t *testing.T) {
	var stream []byte
	for i := 0; i < 3; i++ {
		stream = CRCIEEE.AppendFrame(stream, []byte{0x42, 0x02, 0x08, byte(i + 1)})
	}
	// The source hands over everything but the last byte first.
	src := io.MultiReader(bytes.NewReader(stream[:len(stream)-1]), bytes.NewReader(stream[len(stream)-1:]))
	r := NewReader(src, Config{})
	if r.NextBuffered() {
		t.Fatal("nothing is read yet")
	}
	if _, err := r.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	if !r.NextBuffered() {
		t.Fatal("the second frame is entirely buffered")
	}
	if _, err := r.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	if r.NextBuffered() {
		t.Fatal("the third frame lacks its last byte")
	}
	if _, err := r.ReadFrame(); err != nil {
		t.Fatal(err)
	}
}
