//go:build unix

package transport

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// A TryWriter stops when the peer's socket is full instead of waiting, and
// what it reports written is exactly what the peer reads, in order.
func TestTryWriterNeverWaits(t *testing.T) {
	ep := newEndpoint(t)
	server, client := roundTrip(t, mustListen(t, ep, nil), ep)
	w := NewTryWriter(server)
	if w == nil {
		t.Fatal("no TryWriter for a Unix socket")
	}
	// A deadline for blocking writes, already past, must not matter.
	if err := server.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	var sent bytes.Buffer
	for i := 0; ; i++ {
		if i > 4096 {
			t.Fatal("256 MiB accepted by a peer that does not read")
		}
		for j := range chunk {
			chunk[j] = byte(i + j)
		}
		n, err := writeWithin(t, w, chunk)
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		sent.Write(chunk[:n])
		if n < len(chunk) {
			break // the socket is full, and Write came back
		}
	}
	if sent.Len() == 0 {
		t.Fatal("nothing written to an empty socket")
	}
	got := make([]byte, sent.Len())
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatalf("read back: %v", err)
	}
	if !bytes.Equal(got, sent.Bytes()) {
		t.Fatal("the peer read other bytes than the TryWriter reported written")
	}
	// Room again once the peer has read.
	if n, err := w.Write([]byte("more")); n != 4 || err != nil {
		t.Fatalf("write after the peer read: %d, %v", n, err)
	}

	server.Close()
	if _, err := w.Write([]byte("late")); err == nil {
		t.Fatal("write to a closed connection reported no error")
	}
}

// writeWithin is w.Write, failing the test if it waits for the peer.
func writeWithin(t *testing.T, w *TryWriter, p []byte) (int, error) {
	t.Helper()
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := w.Write(p)
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		return r.n, r.err
	case <-time.After(10 * time.Second):
		t.Fatal("TryWriter.Write waited for a peer that does not read")
		return 0, nil
	}
}

func TestTryWriterOnlyForUnixSockets(t *testing.T) {
	if NewTryWriter(nil) != nil {
		t.Fatal("TryWriter for a nil connection")
	}
}
