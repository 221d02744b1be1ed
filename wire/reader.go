package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Config is what both ends of a connection must agree on.
type Config struct {
	// CRC is the checksum variant; the zero value is IEEE.
	CRC CRC
	// MaxFrameSize bounds the message bytes of one frame; 0 means
	// DefaultMaxFrameSize.
	MaxFrameSize int
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if !c.CRC.valid() {
		return fmt.Errorf("wire: invalid CRC variant %d", c.CRC)
	}
	if c.MaxFrameSize != 0 && (c.MaxFrameSize < MinMaxFrameSize || c.MaxFrameSize > LimitMaxFrameSize) {
		return fmt.Errorf("wire: max frame size %d out of range [%d, %d]", c.MaxFrameSize, MinMaxFrameSize, LimitMaxFrameSize)
	}
	return nil
}

func (c Config) maxFrame() int {
	if c.MaxFrameSize <= 0 {
		// A negative size is invalid (see Validate); treating it as the
		// default keeps it from turning the limit off.
		return DefaultMaxFrameSize
	}
	return c.MaxFrameSize
}

// readBufferSize is the size of the Reader's bufio buffer: frames no larger
// are returned straight from it, without a copy.
const readBufferSize = 128 << 10

// Reader reads frames from a stream. It is not safe for concurrent use.
type Reader struct {
	br    *bufio.Reader
	cfg   Config
	max   int
	first bool   // no frame read yet: a checksum failure may be a CRC variant mismatch
	large []byte // holds a frame larger than the bufio buffer
}

// NewReader returns a Reader that reads buffered from r.
func NewReader(r io.Reader, cfg Config) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, readBufferSize), cfg: cfg, max: cfg.maxFrame(), first: true}
}

// ReadFrame reads the next frame and returns its verified message bytes. The
// bytes are borrowed: they stay valid only until the next call of ReadFrame.
// At a clean end of stream between frames it returns io.EOF; every other
// failure wraps one of the package's sentinel errors or the reader's error.
func (r *Reader) ReadFrame() ([]byte, error) {
	hdr, err := r.br.Peek(HeaderSize)
	if err != nil {
		if errors.Is(err, io.EOF) {
			if len(hdr) == 0 {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("%w: stream ended after %d of %d header bytes", ErrTruncated, len(hdr), HeaderSize)
		}
		return nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[:lengthSize])
	sum := binary.LittleEndian.Uint32(hdr[lengthSize:])
	switch {
	case n == 0:
		return nil, ErrEmptyFrame
	case uint64(n) > uint64(r.max):
		return nil, fmt.Errorf("%w: %d bytes announced, limit is %d", ErrFrameTooLarge, n, r.max)
	}
	if _, err := r.br.Discard(HeaderSize); err != nil {
		return nil, err
	}
	msg, err := r.readBody(int(n))
	if err != nil {
		return nil, err
	}
	if err := r.verify(msg, sum); err != nil {
		return nil, err
	}
	r.first = false
	return msg, nil
}

// readBody returns the next n bytes, from the bufio buffer when they fit.
func (r *Reader) readBody(n int) ([]byte, error) {
	if n <= r.br.Size() {
		msg, err := r.br.Peek(n)
		if err != nil {
			return nil, bodyError(err, len(msg), n)
		}
		// Discard of buffered bytes does not refill the buffer, so msg stays
		// intact until the next read.
		_, _ = r.br.Discard(n)
		return msg, nil
	}
	if cap(r.large) < n {
		r.large = make([]byte, n)
	}
	msg := r.large[:n]
	if got, err := io.ReadFull(r.br, msg); err != nil {
		return nil, bodyError(err, got, n)
	}
	if n > 4*readBufferSize {
		// Do not pin a rare large buffer for the connection's lifetime.
		r.large = nil
	}
	return msg, nil
}

func bodyError(err error, got, want int) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: stream ended after %d of %d message bytes", ErrTruncated, got, want)
	}
	return err
}

func (r *Reader) verify(msg []byte, sum uint32) error {
	got := r.cfg.CRC.Checksum(msg)
	if got == sum {
		return nil
	}
	if r.first {
		other := r.cfg.CRC.other()
		if other.Checksum(msg) == sum {
			return &CRCVariantError{Local: r.cfg.CRC, Peer: other}
		}
	}
	return fmt.Errorf("%w: frame says %#08x, computed %#08x with %s", ErrChecksum, sum, got, r.cfg.CRC)
}

// NextBuffered reports whether the next frame is already entirely in the
// buffer, so that ReadFrame will return it without reading from the source.
// A caller that batches work across frames keeps collecting while it is
// true, and finishes its batch before ReadFrame could block.
func (r *Reader) NextBuffered() bool {
	n := r.br.Buffered()
	if n < HeaderSize {
		return false
	}
	hdr, err := r.br.Peek(HeaderSize)
	if err != nil {
		return false
	}
	return uint64(binary.LittleEndian.Uint32(hdr))+HeaderSize <= uint64(n)
}
