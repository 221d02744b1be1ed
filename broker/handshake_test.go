package broker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/wire"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

func TestWelcomeCarriesLimits(t *testing.T) {
	tb := startBroker(t, broker.Config{
		Wire:             wire.Config{MaxFrameSize: 64 << 10},
		MaxSubscriptions: 7,
		IdleTimeout:      3 * time.Second,
		Version:          "9.8.7",
	})
	w1 := dialRaw(t, tb.sock).hello("procmond")
	w2 := dialRaw(t, tb.sock).hello("procmond")

	checks := []struct {
		name      string
		got, want uint64
	}{
		{"protocol version", uint64(w1.ProtocolVersion), wire.ProtocolVersion},
		{"max frame size", uint64(w1.MaxFrameSize), 64 << 10},
		{"max subscriptions", uint64(w1.MaxSubscriptions), 7},
		{"idle timeout ms", uint64(w1.IdleTimeoutMs), 3000},
		{"ping interval ms", uint64(w1.PingIntervalMs), 1000},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("Welcome %s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if w1.BrokerVersion != "9.8.7" {
		t.Errorf("Welcome broker version %q, want 9.8.7", w1.BrokerVersion)
	}
	if w1.SessionId == 0 || w2.SessionId == 0 || w1.SessionId == w2.SessionId {
		t.Errorf("session ids %d and %d: want distinct and non-zero", w1.SessionId, w2.SessionId)
	}
}

func TestWelcomeDefaults(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	w := dialRaw(t, tb.sock).hello("agent")
	if w.MaxFrameSize != wire.DefaultMaxFrameSize || w.MaxSubscriptions != broker.DefaultMaxSubscriptions ||
		w.IdleTimeoutMs != uint32(broker.DefaultIdleTimeout/time.Millisecond) ||
		w.PingIntervalMs != uint32(broker.DefaultIdleTimeout/3/time.Millisecond) {
		t.Errorf("Welcome %v does not carry the default limits", w)
	}
}

func TestHandshakeRefusals(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	tests := []struct {
		name string
		env  *pb.Envelope
		code pb.ErrorCode
		msg  []string // substrings of the error message
	}{
		{"protocol version 2", helloEnv("procmond", 2), pb.ErrorCode_ERROR_CODE_PROTOCOL_VERSION,
			[]string{"version 2", "version 1"}},
		{"protocol version 0", helloEnv("procmond", 0), pb.ErrorCode_ERROR_CODE_PROTOCOL_VERSION,
			[]string{"version 0", "version 1"}},
		{"ping first", pingEnv(1), pb.ErrorCode_ERROR_CODE_UNEXPECTED_MESSAGE, []string{"expected hello", "ping"}},
		{"publish first", publishEnv("events.x", []byte("x"), 1), pb.ErrorCode_ERROR_CODE_UNEXPECTED_MESSAGE,
			[]string{"expected hello", "publish"}},
		{"subscribe first", subscribeEnv(1, "events.#"), pb.ErrorCode_ERROR_CODE_UNEXPECTED_MESSAGE,
			[]string{"expected hello"}},
		{"empty name", helloEnv("", 1), pb.ErrorCode_ERROR_CODE_BAD_HELLO, []string{"empty client name"}},
		{"name too long", helloEnv(strings.Repeat("a", 65), 1), pb.ErrorCode_ERROR_CODE_BAD_HELLO, []string{"longer than 64"}},
		{"name with a space", helloEnv("proc mond", 1), pb.ErrorCode_ERROR_CODE_BAD_HELLO, []string{`' '`}},
		{"name with a slash", helloEnv("proc/mond", 1), pb.ErrorCode_ERROR_CODE_BAD_HELLO, []string{`'/'`}},
		{"instance id with a space", &pb.Envelope{Kind: &pb.Envelope_Hello{Hello: &pb.Hello{
			ClientName: "procmond", InstanceId: "host 1", ProtocolVersion: 1,
		}}}, pb.ErrorCode_ERROR_CODE_BAD_HELLO, []string{"instance id", "offset 4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := dialRaw(t, tb.sock)
			r.send(tt.env)
			e := r.expectFatal(tt.code)
			for _, s := range tt.msg {
				if !strings.Contains(e.Message, s) {
					t.Errorf("error message %q does not say %q", e.Message, s)
				}
			}
		})
	}
	// A name of exactly 64 allowed bytes is fine.
	dialRaw(t, tb.sock).hello(strings.Repeat("a", 62) + "._")
	if got := tb.Stats().HandshakeFailed; got != uint64(len(tests)) {
		t.Errorf("Stats().HandshakeFailed = %d, want %d", got, len(tests))
	}
}

func TestHandshakeTimeout(t *testing.T) {
	tb := startBroker(t, broker.Config{HandshakeTimeout: 200 * time.Millisecond})
	r := dialRaw(t, tb.sock)
	e := r.expectFatal(pb.ErrorCode_ERROR_CODE_TIMEOUT)
	if !strings.Contains(e.Message, "handshake") || !strings.Contains(e.Message, "200ms") {
		t.Errorf("timeout message %q does not name the handshake and its limit", e.Message)
	}

	// A client that completes the handshake in time is not affected, even
	// when it then stays silent for longer than the handshake timeout.
	ok := dialRaw(t, tb.sock)
	ok.hello("procmond")
	silent := dialRaw(t, tb.sock)
	silent.expectFatal(pb.ErrorCode_ERROR_CODE_TIMEOUT) // at least one handshake timeout has passed
	ok.ping(7)
	eventually(t, "both handshake timeouts counted", func() bool { return tb.Stats().HandshakeTimeouts == 2 })
	if st := tb.Stats(); st.IdleTimeouts != 0 {
		t.Errorf("handshake timeouts counted as idle timeouts: %+v", st)
	}
}

func TestSecondHelloIsFatal(t *testing.T) {
	tb := startBroker(t, broker.Config{})
	r := dialRaw(t, tb.sock)
	r.hello("procmond")
	r.send(helloEnv("procmond", wire.ProtocolVersion))
	e := r.expectFatal(pb.ErrorCode_ERROR_CODE_UNEXPECTED_MESSAGE)
	if !strings.Contains(e.Message, "second hello") {
		t.Errorf("error message %q does not say second hello", e.Message)
	}
	eventually(t, "session removed", func() bool { return tb.Stats().Sessions == 0 })
}
