package wire

// Wire facts. const_test.go pins their values: changing one breaks every
// deployed peer.
const (
	// ProtocolVersion is the version of the protocol this package speaks,
	// sent in Hello and Welcome.
	ProtocolVersion = 1

	// HeaderSize is the length prefix plus the checksum.
	HeaderSize = lengthSize + checksumSize

	lengthSize   = 4
	checksumSize = 4

	// DefaultMaxFrameSize bounds the message bytes of one frame (the header
	// is not counted).
	DefaultMaxFrameSize = 1 << 20

	// MinMaxFrameSize is the smallest maximum a peer may configure: every
	// control message must fit.
	MinMaxFrameSize = 4 << 10

	// LimitMaxFrameSize is the largest maximum a peer may configure. It keeps
	// one frame's buffer well below what a hostile length can make a peer
	// allocate.
	LimitMaxFrameSize = 64 << 20
)

// Field numbers of the Envelope that the codec writes by hand. They must
// equal the numbers in eventbus.proto; const_test.go checks them against the
// generated descriptor.
const (
	envelopeDeliveryField         = 15
	deliveryInfoSubscriptionField = 1
	deliveryInfoDroppedField      = 2
)
