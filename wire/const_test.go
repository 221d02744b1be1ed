package wire

import (
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// TestWireConstants pins every value a deployed peer depends on. A failure
// here means the wire format changed: bump ProtocolVersion and update
// docs/protocol.md instead of editing the expected value.
func TestWireConstants(t *testing.T) {
	tests := []struct {
		name      string
		got, want int
	}{
		{"ProtocolVersion", ProtocolVersion, 1},
		{"HeaderSize", HeaderSize, 8},
		{"lengthSize", lengthSize, 4},
		{"checksumSize", checksumSize, 4},
		{"DefaultMaxFrameSize", DefaultMaxFrameSize, 1 << 20},
		{"MinMaxFrameSize", MinMaxFrameSize, 4 << 10},
		{"LimitMaxFrameSize", LimitMaxFrameSize, 64 << 20},
		{"CRCIEEE", int(CRCIEEE), 0},
		{"CRCCastagnoli", int(CRCCastagnoli), 1},
		{"envelopeDeliveryField", envelopeDeliveryField, 15},
		{"deliveryInfoSubscriptionField", deliveryInfoSubscriptionField, 1},
		{"deliveryInfoDroppedField", deliveryInfoDroppedField, 2},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
	if HeaderSize != lengthSize+checksumSize {
		t.Errorf("HeaderSize %d != lengthSize %d + checksumSize %d", HeaderSize, lengthSize, checksumSize)
	}
	if !(MinMaxFrameSize <= DefaultMaxFrameSize && DefaultMaxFrameSize <= LimitMaxFrameSize) {
		t.Errorf("DefaultMaxFrameSize %d outside [%d, %d]", DefaultMaxFrameSize, MinMaxFrameSize, LimitMaxFrameSize)
	}
	if LimitMaxFrameSize > 1<<32-1 {
		t.Errorf("LimitMaxFrameSize %d does not fit the u32 length prefix", LimitMaxFrameSize)
	}
	var zero CRC
	if zero != CRCIEEE {
		t.Errorf("zero CRC = %v, want ieee", zero)
	}
}

// TestHandEncodedFields checks the field numbers, kinds and encodings that
// AppendDeliveryFrame writes by hand against the generated descriptor, so
// that an edit of eventbus.proto cannot silently break the hand encoding.
func TestHandEncodedFields(t *testing.T) {
	env := (&pb.Envelope{}).ProtoReflect().Descriptor()
	info := (&pb.DeliveryInfo{}).ProtoReflect().Descriptor()

	tests := []struct {
		name   string
		fd     protoreflect.FieldDescriptor
		number int
		kind   protoreflect.Kind
		card   protoreflect.Cardinality
		packed bool
	}{
		{"Envelope.delivery", env.Fields().ByName("delivery"), envelopeDeliveryField, protoreflect.MessageKind, protoreflect.Optional, false},
		{"DeliveryInfo.subscription_ids", info.Fields().ByName("subscription_ids"), deliveryInfoSubscriptionField, protoreflect.Uint32Kind, protoreflect.Repeated, true},
		{"DeliveryInfo.dropped_before", info.Fields().ByName("dropped_before"), deliveryInfoDroppedField, protoreflect.Uint64Kind, protoreflect.Optional, false},
	}
	for _, tt := range tests {
		if tt.fd == nil {
			t.Errorf("%s: field not in the descriptor", tt.name)
			continue
		}
		if got := int(tt.fd.Number()); got != tt.number {
			t.Errorf("%s: descriptor number %d, hand-written constant %d", tt.name, got, tt.number)
		}
		if got := tt.fd.Kind(); got != tt.kind {
			t.Errorf("%s: kind %v, the hand encoding writes %v", tt.name, got, tt.kind)
		}
		if got := tt.fd.Cardinality(); got != tt.card {
			t.Errorf("%s: cardinality %v, want %v", tt.name, got, tt.card)
		}
		if got := tt.fd.IsPacked(); got != tt.packed {
			t.Errorf("%s: packed %v, want %v", tt.name, got, tt.packed)
		}
	}

	// The per-receiver suffix follows a shared Deliver: delivery must be its
	// own field, outside the kind oneof, and must hold a DeliveryInfo.
	d := env.Fields().ByName("delivery")
	if d == nil {
		t.Fatal("Envelope.delivery missing")
	}
	if d.ContainingOneof() != nil {
		t.Errorf("Envelope.delivery is in oneof %s; it must be a separate field", d.ContainingOneof().Name())
	}
	if got, want := d.Message().FullName(), info.FullName(); got != want {
		t.Errorf("Envelope.delivery holds %s, want %s", got, want)
	}
	if dl := env.Fields().ByName("deliver"); dl == nil || dl.ContainingOneof() == nil || dl.ContainingOneof().Name() != "kind" {
		t.Errorf("Envelope.deliver must be a member of oneof kind")
	}
	// DecodeEnvelope relies on "no kind" meaning "nothing this end knows":
	// every field except delivery is a kind.
	for i := 0; i < env.Fields().Len(); i++ {
		fd := env.Fields().Get(i)
		if fd.Name() != "delivery" && fd.ContainingOneof() == nil {
			t.Errorf("Envelope.%s is outside oneof kind", fd.Name())
		}
	}
	if got := info.Fields().Len(); got != 2 {
		t.Errorf("DeliveryInfo has %d fields; AppendDeliveryFrame writes 2", got)
	}
}

func TestCRCText(t *testing.T) {
	tests := []struct {
		in   string
		want CRC
	}{
		{"ieee", CRCIEEE},
		{"IEEE", CRCIEEE},
		{"castagnoli", CRCCastagnoli},
		{"Castagnoli", CRCCastagnoli},
		{"crc32c", CRCCastagnoli},
		{"CRC32C", CRCCastagnoli},
	}
	for _, tt := range tests {
		got, err := ParseCRC(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseCRC(%q) = %v, %v; want %v, nil", tt.in, got, err, tt.want)
		}
		var u CRC = 7
		if err := u.UnmarshalText([]byte(tt.in)); err != nil || u != tt.want {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v, nil", tt.in, u, err, tt.want)
		}
	}

	for _, c := range []CRC{CRCIEEE, CRCCastagnoli} {
		want := map[CRC]string{CRCIEEE: "ieee", CRCCastagnoli: "castagnoli"}[c]
		if got := c.String(); got != want {
			t.Errorf("CRC(%d).String() = %q, want %q", uint8(c), got, want)
		}
		if back, err := ParseCRC(c.String()); err != nil || back != c {
			t.Errorf("ParseCRC(%q) = %v, %v; want %v", c.String(), back, err, c)
		}
		text, err := c.MarshalText()
		if err != nil || string(text) != want {
			t.Errorf("%v.MarshalText() = %q, %v; want %q", c, text, err, want)
		}
		var back CRC
		if err := back.UnmarshalText(text); err != nil || back != c {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", text, back, err, c)
		}

		// Through a configuration format.
		type conf struct{ CRC CRC }
		js, err := json.Marshal(conf{c})
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"CRC":"` + want + `"}`; string(js) != want {
			t.Errorf("json.Marshal = %s, want %s", js, want)
		}
		var decoded conf
		if err := json.Unmarshal(js, &decoded); err != nil || decoded.CRC != c {
			t.Errorf("json.Unmarshal(%s) = %v, %v; want %v", js, decoded.CRC, err, c)
		}
	}

	if got := CRC(7).String(); got != "CRC(7)" {
		t.Errorf("CRC(7).String() = %q, want CRC(7)", got)
	}
}

func TestParseCRCUnknown(t *testing.T) {
	for _, in := range []string{"", "crc32", "crc64", "Ieee", " ieee", "CRC(7)", "koopman"} {
		got, err := ParseCRC(in)
		if err == nil {
			t.Errorf("ParseCRC(%q) = %v, nil; want an error", in, got)
			continue
		}
		if got != 0 {
			t.Errorf("ParseCRC(%q) returned %v with its error, want the zero value", in, got)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "wire: ") || !strings.Contains(msg, `"`+in+`"`) {
			t.Errorf("ParseCRC(%q) error %q: want a wire: prefix and the quoted input", in, msg)
		}

		c := CRCCastagnoli
		if err := c.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("UnmarshalText(%q) succeeded", in)
		}
		if c != CRCCastagnoli {
			t.Errorf("failed UnmarshalText(%q) changed the value to %v", in, c)
		}
	}
	var conf struct{ CRC CRC }
	if err := json.Unmarshal([]byte(`{"CRC":"adler32"}`), &conf); err == nil {
		t.Error("json.Unmarshal accepted an unknown CRC variant")
	}
}

// TestCRCChecksum checks both variants against the published check values
// (the CRC of "123456789") and that Update continues a checksum, which
// AppendDeliveryFrame depends on.
func TestCRCChecksum(t *testing.T) {
	check := []byte("123456789")
	tests := []struct {
		c    CRC
		want uint32
	}{
		{CRCIEEE, 0xCBF43926},
		{CRCCastagnoli, 0xE3069283},
	}
	for _, tt := range tests {
		if got := tt.c.Checksum(check); got != tt.want {
			t.Errorf("%v.Checksum(%q) = %#08x, want %#08x", tt.c, check, got, tt.want)
		}
		if got := tt.c.Checksum(nil); got != 0 {
			t.Errorf("%v.Checksum(nil) = %#08x, want 0", tt.c, got)
		}
		for split := 0; split <= len(check); split++ {
			sum := tt.c.Update(tt.c.Checksum(check[:split]), check[split:])
			if sum != tt.want {
				t.Errorf("%v: Update after %d bytes = %#08x, want %#08x", tt.c, split, sum, tt.want)
			}
		}
		if tt.c.other() == tt.c || tt.c.other().other() != tt.c {
			t.Errorf("%v.other() = %v", tt.c, tt.c.other())
		}
	}
}
