package e2e

import (
	"testing"

	"github.com/daemoneye/eventbus/internal/sockinspect"
)

// The broker process holds no TCP or UDP socket at all: it is reachable only
// through its Unix socket.
func TestBrokerHasNoNetworkSockets(t *testing.T) {
	b := startBroker(t)
	sub := b.startEbctl(t, "agent", nil, "sub", "-name", "daemoneye-agent", "events.#")
	b.waitSubscribed(t, "daemoneye-agent events.#")

	pid := b.cmd.Process.Pid
	inet, err := sockinspect.InetSockets(pid)
	if err != nil {
		t.Fatalf("inspecting broker sockets: %v", err)
	}
	if len(inet) != 0 {
		t.Fatalf("broker holds network sockets: %+v", inet)
	}
	unix, err := sockinspect.UnixSockets(pid)
	if err != nil {
		t.Fatal(err)
	}
	if unix < 2 { // the listener and the subscriber's connection
		t.Fatalf("broker holds %d unix sockets, want at least 2", unix)
	}
	_ = sub
}
