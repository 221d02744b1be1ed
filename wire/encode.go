package wire

import (
	"encoding/binary"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// AppendFrame appends a frame holding msg to dst and returns the extended
// buffer.
func (c CRC) AppendFrame(dst, msg []byte) []byte {
	dst = appendHeader(dst, len(msg), c.Checksum(msg))
	return append(dst, msg...)
}

func appendHeader(dst []byte, n int, sum uint32) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(n))
	return binary.LittleEndian.AppendUint32(dst, sum)
}

var marshalOpts = proto.MarshalOptions{}

// errNoKind refuses to encode an Envelope without a message kind: it would
// make a frame the peer rejects (an empty one, ErrEmptyFrame, when nothing
// else is set).
var errNoKind = fmt.Errorf("wire: encode envelope: %w: no message kind set", ErrBadMessage)

// AppendEnvelope appends a frame holding env to dst. The message is encoded
// straight into dst; no intermediate buffer is allocated when dst has room.
func (c CRC) AppendEnvelope(dst []byte, env *pb.Envelope) ([]byte, error) {
	if env.GetKind() == nil {
		return dst, errNoKind
	}
	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	dst, err := marshalOpts.MarshalAppend(dst, env)
	if err != nil {
		return dst[:start], fmt.Errorf("wire: encode envelope: %w", err)
	}
	msg := dst[start+HeaderSize:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(msg)))
	binary.LittleEndian.PutUint32(dst[start+lengthSize:], c.Checksum(msg))
	return dst, nil
}

// EncodeShared encodes an Envelope that will reach many receivers and
// returns its bytes and their checksum, both computed once. env is typically
// a Deliver; AppendDeliveryFrame completes it per receiver.
func (c CRC) EncodeShared(env *pb.Envelope) (msg []byte, sum uint32, err error) {
	if env.GetKind() == nil {
		return nil, 0, errNoKind
	}
	msg, err = marshalOpts.Marshal(env)
	if err != nil {
		return nil, 0, fmt.Errorf("wire: encode envelope: %w", err)
	}
	return msg, c.Checksum(msg), nil
}

// AppendDeliveryFrame appends a frame whose message is shared, as returned by
// EncodeShared, followed by the Envelope's DeliveryInfo for one receiver:
// the ids of its subscriptions that matched and how many events were dropped
// for it since its previous delivery. Protobuf permits fields in any order,
// so the receiver decodes one Envelope holding both. Only the suffix is
// encoded and checksummed here; the shared bytes are copied as they are.
func (c CRC) AppendDeliveryFrame(dst, shared []byte, sharedSum uint32, subscriptionIDs []uint32, dropped uint64) []byte {
	info := deliveryInfoSize(subscriptionIDs, dropped)
	suffix := protowire.SizeTag(envelopeDeliveryField) + protowire.SizeBytes(info)
	start := len(dst)
	dst = appendHeader(dst, len(shared)+suffix, 0)
	dst = append(dst, shared...)
	suffixStart := len(dst)
	dst = protowire.AppendTag(dst, envelopeDeliveryField, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(info))
	if len(subscriptionIDs) > 0 {
		dst = protowire.AppendTag(dst, deliveryInfoSubscriptionField, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(packedSize(subscriptionIDs)))
		for _, id := range subscriptionIDs {
			dst = protowire.AppendVarint(dst, uint64(id))
		}
	}
	if dropped > 0 {
		dst = protowire.AppendTag(dst, deliveryInfoDroppedField, protowire.VarintType)
		dst = protowire.AppendVarint(dst, dropped)
	}
	binary.LittleEndian.PutUint32(dst[start+lengthSize:], c.Update(sharedSum, dst[suffixStart:]))
	return dst
}

func packedSize(ids []uint32) int {
	n := 0
	for _, id := range ids {
		n += protowire.SizeVarint(uint64(id))
	}
	return n
}

func deliveryInfoSize(ids []uint32, dropped uint64) int {
	n := 0
	if len(ids) > 0 {
		n += protowire.SizeTag(deliveryInfoSubscriptionField) + protowire.SizeBytes(packedSize(ids))
	}
	if dropped > 0 {
		n += protowire.SizeTag(deliveryInfoDroppedField) + protowire.SizeVarint(dropped)
	}
	return n
}

var unmarshalOpts = proto.UnmarshalOptions{}

// DecodeEnvelope decodes msg, as returned by Reader.ReadFrame, into env,
// which is reset first. The decoded envelope owns copies of every byte it
// keeps, so msg may be reused afterwards. An envelope with no message kind
// this end knows (for example one from a newer peer) is an ErrBadMessage.
func DecodeEnvelope(msg []byte, env *pb.Envelope) error {
	env.Reset()
	if err := unmarshalOpts.Unmarshal(msg, env); err != nil {
		return fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	if env.GetKind() == nil {
		return fmt.Errorf("%w: envelope carries no known message kind", ErrBadMessage)
	}
	return nil
}

// MaxDeliverySuffix bounds the bytes AppendDeliveryFrame adds to the shared
// message for a receiver with n matching subscriptions, whatever the ids and
// the dropped count. A sender uses it to refuse an event whose delivery
// frames could exceed the peer's maximum frame size.
func MaxDeliverySuffix(n int) int {
	ids := protowire.SizeVarint(1<<32-1) * n
	info := protowire.SizeTag(deliveryInfoSubscriptionField) + protowire.SizeBytes(ids) +
		protowire.SizeTag(deliveryInfoDroppedField) + protowire.SizeVarint(1<<64-1)
	return protowire.SizeTag(envelopeDeliveryField) + protowire.SizeBytes(info)
}
