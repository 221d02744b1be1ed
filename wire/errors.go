package wire

import (
	"errors"
	"fmt"
)

// Errors returned by the codec. Each failure of a frame wraps exactly one of
// them, so callers branch with errors.Is and still get a message with the
// details.
var (
	// ErrFrameTooLarge: the length prefix exceeds the maximum frame size.
	// The body is never read.
	ErrFrameTooLarge = errors.New("wire: frame too large")
	// ErrEmptyFrame: the length prefix is zero, which no valid message has.
	ErrEmptyFrame = errors.New("wire: zero-length frame")
	// ErrChecksum: the frame's checksum does not match its bytes.
	ErrChecksum = errors.New("wire: checksum mismatch")
	// ErrCRCVariant: the checksum matches with the other CRC variant, so the
	// peer is configured differently. See CRCVariantError.
	ErrCRCVariant = errors.New("wire: CRC variant mismatch")
	// ErrTruncated: the stream ended inside a frame.
	ErrTruncated = errors.New("wire: truncated frame")
	// ErrBadMessage: the frame is intact but its bytes are not a valid
	// Envelope, or it carries no message kind this end knows.
	ErrBadMessage = errors.New("wire: bad message")
)

// CRCVariantError reports that the peer computes its checksums with another
// CRC variant. It is detected on the first frame of a connection only.
type CRCVariantError struct {
	Local, Peer CRC
}

func (e *CRCVariantError) Error() string {
	return fmt.Sprintf("wire: CRC variant mismatch: peer uses %s, this end is configured for %s", e.Peer, e.Local)
}

// Unwrap makes errors.Is(err, ErrCRCVariant) true.
func (e *CRCVariantError) Unwrap() error { return ErrCRCVariant }
