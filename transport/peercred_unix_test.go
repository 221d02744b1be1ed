//go:build unix

package transport

import (
	"errors"
	"net"
	"os"
	"runtime"
	"testing"
)

func TestPeerCredentialsOfNonUnix(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := PeerCredentialsOf(a); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("PeerCredentialsOf(net.Pipe): %v, want ErrNoCredentials", err)
	}
	if _, err := PeerCredentialsOf(nil); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("PeerCredentialsOf(nil): %v, want ErrNoCredentials", err)
	}
	var typedNil *net.UnixConn
	if _, err := PeerCredentialsOf(typedNil); err == nil {
		t.Error("PeerCredentialsOf((*net.UnixConn)(nil)) succeeded")
	}
}

func TestPeerCredentialsOfBothEnds(t *testing.T) {
	ep := newEndpoint(t)
	server, client := roundTrip(t, mustListen(t, ep, nil), ep)
	for name, c := range map[string]net.Conn{"server": server, "client": client} {
		creds, err := PeerCredentialsOf(c)
		if errors.Is(err, ErrNoCredentials) && !credentialsImplemented() {
			t.Skipf("%s side: %v", name, err)
		}
		if err != nil {
			t.Fatalf("%s side: %v", name, err)
		}
		if int(creds.UID) != os.Geteuid() || int(creds.GID) != os.Getegid() {
			t.Errorf("%s side: %v, want uid=%d gid=%d", name, creds, os.Geteuid(), os.Getegid())
		}
	}
}

func credentialsImplemented() bool {
	switch runtime.GOOS {
	case "linux", "android", "darwin", "ios", "freebsd":
		return true
	}
	return false
}
