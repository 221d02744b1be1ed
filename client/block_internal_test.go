package client

import (
	"bytes"
	"testing"
)

// Payloads carved from one block stay apart: appending to one never writes
// into the next, and each holds its own bytes.
func TestPayloadBlocksStayApart(t *testing.T) {
	var l link
	a := l.copyPayload([]byte("first"))
	b := l.copyPayload([]byte("second"))
	if &a[:1][0] == &b[:1][0] {
		t.Fatal("two payloads share their first byte")
	}
	a = append(a, "-grown"...)
	if string(b) != "second" {
		t.Fatalf("appending to one payload changed the next: %q", b)
	}
	if string(a) != "first-grown" {
		t.Fatalf("grown payload %q", a)
	}
	big := bytes.Repeat([]byte{'x'}, maxBlockedPayload+1)
	// A large payload gets an allocation of its own (any spare capacity is
	// its own, not a neighbour's).
	if c := l.copyPayload(big); !bytes.Equal(c, big) || &c[0] == &big[0] {
		t.Fatalf("large payload copied wrong: len %d", len(c))
	}
	if l.copyPayload(nil) != nil {
		t.Fatal("an empty payload should stay nil")
	}
	// A new block starts when the current one is full.
	for i := 0; i < payloadBlock/100+2; i++ {
		p := l.copyPayload(bytes.Repeat([]byte{byte(i)}, 100))
		if p[0] != byte(i) || len(p) != 100 {
			t.Fatalf("payload %d corrupted", i)
		}
	}
	m1, m2 := l.newMessage(), l.newMessage()
	if m1 == m2 {
		t.Fatal("two messages share their memory")
	}
}
