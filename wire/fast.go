package wire

import (
	"encoding/binary"

	"google.golang.org/protobuf/encoding/protowire"
)

// The hot path of the bus is a Publish in and a Deliver out. The functions
// here encode and decode exactly those two messages by hand, without
// building protobuf structs, so that routing an event allocates only the
// shared delivery frame. fast_test.go checks them against the generated
// code. Anything unusual (unknown fields, repeated fields, non-ASCII
// topics) makes the parsers decline, and the caller falls back to
// DecodeEnvelope, so behaviour never depends on which path ran.

// Field numbers of the messages handled here; const_test.go pins them.
const (
	envelopePublishField = 6
	envelopeDeliverField = 7

	publishTopicField       = 1
	publishPayloadField     = 2
	publishCorrelationField = 3
	publishIDField          = 4

	deliverTopicField       = 1
	deliverPayloadField     = 2
	deliverTimestampField   = 3
	deliverPublisherField   = 4
	deliverCorrelationField = 5
	deliverReplyToField     = 6
)

// PublishView is a Publish decoded without copying. Its slices alias the
// message it was parsed from and are valid only as long as those bytes.
type PublishView struct {
	Topic []byte
	// Payload may be empty.
	Payload []byte
	// Correlation is the encoded Correlation message, or nil. ParsePublish
	// does not check it; a caller that passes it on must validate it.
	Correlation []byte
	PublishID   uint64
}

// ParsePublish decodes msg when it is an Envelope holding only a Publish
// in the plain form this package and the Go client produce. It reports
// false for anything else, which the caller then decodes with
// DecodeEnvelope.
func ParsePublish(msg []byte) (PublishView, bool) {
	body, ok := onlyField(msg, envelopePublishField)
	if !ok {
		return PublishView{}, false
	}
	var v PublishView
	var seen uint8
	for len(body) > 0 {
		num, typ, n := protowire.ConsumeTag(body)
		if n < 0 || num > publishIDField || seen&(1<<num) != 0 {
			return PublishView{}, false
		}
		seen |= 1 << num
		body = body[n:]
		switch {
		case num == publishIDField && typ == protowire.VarintType:
			v.PublishID, n = protowire.ConsumeVarint(body)
		case typ == protowire.BytesType && num >= publishTopicField:
			var b []byte
			b, n = protowire.ConsumeBytes(body)
			switch num {
			case publishTopicField:
				v.Topic = b
			case publishPayloadField:
				v.Payload = b
			case publishCorrelationField:
				v.Correlation = b
			}
		default:
			return PublishView{}, false
		}
		if n < 0 {
			return PublishView{}, false
		}
		body = body[n:]
	}
	// A string field must hold UTF-8; topics are ASCII when valid, and
	// anything else goes the slow way to get the generated code's error.
	for _, c := range v.Topic {
		if c >= 0x80 {
			return PublishView{}, false
		}
	}
	return v, true
}

// onlyField returns the bytes of field num when msg consists of exactly that
// one length-delimited field.
func onlyField(msg []byte, num protowire.Number) ([]byte, bool) {
	got, typ, n := protowire.ConsumeTag(msg)
	if n < 0 || got != num || typ != protowire.BytesType {
		return nil, false
	}
	body, m := protowire.ConsumeBytes(msg[n:])
	if m < 0 || n+m != len(msg) {
		return nil, false
	}
	return body, true
}

// DeliverParts are the fields of a Deliver, already encoded where they are
// messages, for AppendDeliverMessage.
type DeliverParts struct {
	Topic             string
	Payload           []byte
	TimestampUnixNano int64
	// Publisher and Correlation are encoded Publisher and Correlation
	// messages; nil leaves them out.
	Publisher   []byte
	Correlation []byte
	ReplyTo     string
}

func (p *DeliverParts) size() int {
	n := sizeBytesField(deliverTopicField, len(p.Topic)) + sizeBytesField(deliverPayloadField, len(p.Payload))
	if p.TimestampUnixNano != 0 {
		n += protowire.SizeTag(deliverTimestampField) + protowire.SizeVarint(uint64(p.TimestampUnixNano))
	}
	n += sizeBytesField(deliverPublisherField, len(p.Publisher)) + sizeBytesField(deliverCorrelationField, len(p.Correlation))
	return n + sizeBytesField(deliverReplyToField, len(p.ReplyTo))
}

// sizeBytesField is the size of a length-delimited field, or 0 for an
// empty one, which proto3 leaves out.
func sizeBytesField(num protowire.Number, n int) int {
	if n == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

// DeliverMessageSize is the size of the Envelope AppendDeliverMessage
// writes for p, so that a caller can allocate it exactly.
func DeliverMessageSize(p *DeliverParts) int {
	return sizeBytesField(envelopeDeliverField, p.size())
}

// AppendDeliverMessage appends an Envelope holding the Deliver made of p:
// the shared part of every receiver's delivery frame (see
// AppendDeliveryFrame). It encodes the same bytes as marshalling the
// equivalent generated message.
func AppendDeliverMessage(dst []byte, p *DeliverParts) []byte {
	dst = protowire.AppendTag(dst, envelopeDeliverField, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(p.size()))
	dst = appendStringField(dst, deliverTopicField, p.Topic)
	dst = appendBytesField(dst, deliverPayloadField, p.Payload)
	if p.TimestampUnixNano != 0 {
		dst = protowire.AppendTag(dst, deliverTimestampField, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(p.TimestampUnixNano))
	}
	dst = appendBytesField(dst, deliverPublisherField, p.Publisher)
	dst = appendBytesField(dst, deliverCorrelationField, p.Correlation)
	return appendStringField(dst, deliverReplyToField, p.ReplyTo)
}

func appendStringField(dst []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return dst
	}
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendString(dst, s)
}

func appendBytesField(dst []byte, num protowire.Number, b []byte) []byte {
	if len(b) == 0 {
		return dst
	}
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendBytes(dst, b)
}

// AppendPublishFrame appends a complete frame holding a Publish: what a
// client sends for every event. correlation is an encoded Correlation
// message, or nil.
func (c CRC) AppendPublishFrame(dst []byte, topic string, payload, correlation []byte, publishID uint64) []byte {
	body := sizeBytesField(publishTopicField, len(topic)) + sizeBytesField(publishPayloadField, len(payload)) +
		sizeBytesField(publishCorrelationField, len(correlation))
	if publishID != 0 {
		body += protowire.SizeTag(publishIDField) + protowire.SizeVarint(publishID)
	}
	msgLen := protowire.SizeTag(envelopePublishField) + protowire.SizeBytes(body)
	start := len(dst)
	dst = appendHeader(dst, msgLen, 0)
	dst = protowire.AppendTag(dst, envelopePublishField, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(body))
	dst = appendStringField(dst, publishTopicField, topic)
	dst = appendBytesField(dst, publishPayloadField, payload)
	dst = appendBytesField(dst, publishCorrelationField, correlation)
	if publishID != 0 {
		dst = protowire.AppendTag(dst, publishIDField, protowire.VarintType)
		dst = protowire.AppendVarint(dst, publishID)
	}
	binary.LittleEndian.PutUint32(dst[start+lengthSize:], c.Checksum(dst[start+HeaderSize:]))
	return dst
}

// Field numbers of DeliveryInfo's neighbours handled by ParseDeliver.
const maxDeliverField = deliverReplyToField

// DeliverView is a delivery frame's message decoded without copying: the
// Deliver's fields and this receiver's DeliveryInfo. Its slices alias the
// message and are valid only as long as those bytes.
type DeliverView struct {
	Topic             []byte
	Payload           []byte
	TimestampUnixNano int64
	// Publisher and Correlation are encoded messages, or nil.
	Publisher   []byte
	Correlation []byte
	ReplyTo     []byte
	// packedIDs holds the subscription ids, packed varints.
	packedIDs []byte
	Dropped   uint64
}

// SubscriptionIDs appends the matched subscription ids to dst.
func (v *DeliverView) SubscriptionIDs(dst []uint32) []uint32 {
	for b := v.packedIDs; len(b) > 0; {
		id, n := protowire.ConsumeVarint(b)
		if n < 0 {
			break // ParseDeliver checked the encoding
		}
		dst = append(dst, uint32(id))
		b = b[n:]
	}
	return dst
}

// ParseDeliver decodes msg when it is an Envelope holding a Deliver and its
// DeliveryInfo in the form AppendDeliveryFrame writes. It reports false for
// anything else, which the caller decodes with DecodeEnvelope.
func ParseDeliver(msg []byte) (DeliverView, bool) {
	var v DeliverView
	var deliver, info []byte
	var haveDeliver, haveInfo bool
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 || typ != protowire.BytesType {
			return DeliverView{}, false
		}
		body, m := protowire.ConsumeBytes(msg[n:])
		if m < 0 {
			return DeliverView{}, false
		}
		switch {
		case num == envelopeDeliverField && !haveDeliver:
			deliver, haveDeliver = body, true
		case num == envelopeDeliveryField && !haveInfo:
			info, haveInfo = body, true
		default:
			return DeliverView{}, false
		}
		msg = msg[n+m:]
	}
	if !haveDeliver || !v.parseDeliver(deliver) || !v.parseInfo(info) {
		return DeliverView{}, false
	}
	return v, true
}

func (v *DeliverView) parseDeliver(b []byte) bool {
	var seen uint8
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num < deliverTopicField || num > maxDeliverField || seen&(1<<num) != 0 {
			return false
		}
		seen |= 1 << num
		b = b[n:]
		if num == deliverTimestampField {
			if typ != protowire.VarintType {
				return false
			}
			var ts uint64
			ts, n = protowire.ConsumeVarint(b)
			v.TimestampUnixNano = int64(ts)
		} else {
			if typ != protowire.BytesType {
				return false
			}
			var field []byte
			field, n = protowire.ConsumeBytes(b)
			switch num {
			case deliverTopicField:
				v.Topic = field
			case deliverPayloadField:
				v.Payload = field
			case deliverPublisherField:
				v.Publisher = field
			case deliverCorrelationField:
				v.Correlation = field
			case deliverReplyToField:
				v.ReplyTo = field
			}
		}
		if n < 0 {
			return false
		}
		b = b[n:]
	}
	// Strings must be UTF-8; topics and reply tokens are ASCII.
	return isASCII(v.Topic) && isASCII(v.ReplyTo)
}

func (v *DeliverView) parseInfo(b []byte) bool {
	var seen uint8
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num < deliveryInfoSubscriptionField || num > deliveryInfoDroppedField || seen&(1<<num) != 0 {
			return false
		}
		seen |= 1 << num
		b = b[n:]
		switch {
		case num == deliveryInfoSubscriptionField && typ == protowire.BytesType:
			v.packedIDs, n = protowire.ConsumeBytes(b)
			for ids := v.packedIDs; n >= 0 && len(ids) > 0; {
				id, m := protowire.ConsumeVarint(ids)
				if m < 0 || id > 1<<32-1 {
					return false
				}
				ids = ids[m:]
			}
		case num == deliveryInfoDroppedField && typ == protowire.VarintType:
			v.Dropped, n = protowire.ConsumeVarint(b)
		default:
			return false
		}
		if n < 0 {
			return false
		}
		b = b[n:]
	}
	return true
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}
