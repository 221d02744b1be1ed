//go:build linux

package sockinspect

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"testing"
)

func find(t *testing.T, proto, local string) (Socket, bool) {
	t.Helper()
	socks, err := InetSockets(os.Getpid())
	if err != nil {
		t.Fatalf("InetSockets: %v", err)
	}
	for _, s := range socks {
		if s.Proto == proto && s.LocalAddr == local {
			return s, true
		}
	}
	return Socket{}, false
}

func TestInetSocketsTCPListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	s, ok := find(t, "tcp", addr)
	if !ok {
		ln.Close()
		t.Fatalf("listener on %s not reported", addr)
	}
	if s.State != "LISTEN" || s.RemoteAddr != "0.0.0.0:0" || s.Inode == 0 {
		t.Errorf("got %+v, want state LISTEN, remote 0.0.0.0:0 and an inode", s)
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if s, ok := find(t, "tcp", addr); ok {
		t.Errorf("closed listener still reported: %+v", s)
	}
}

func TestInetSocketsTCPConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, ok := find(t, "tcp", c.LocalAddr().String())
	if !ok {
		t.Fatalf("client side %s not reported", c.LocalAddr())
	}
	if s.State != "ESTABLISHED" || s.RemoteAddr != ln.Addr().String() {
		t.Errorf("got %+v, want ESTABLISHED to %s", s, ln.Addr())
	}
}

func TestInetSocketsUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	s, ok := find(t, "udp", addr)
	if !ok {
		pc.Close()
		t.Fatalf("UDP socket on %s not reported", addr)
	}
	if s.State != "UNCONN" {
		t.Errorf("state = %q, want UNCONN", s.State)
	}
	pc.Close()
	if _, ok := find(t, "udp", addr); ok {
		t.Errorf("closed UDP socket still reported")
	}
}

func TestInetSocketsTCP6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer ln.Close()
	want := netip.AddrPortFrom(netip.IPv6Loopback(), uint16(ln.Addr().(*net.TCPAddr).Port)).String()
	s, ok := find(t, "tcp6", want)
	if !ok || s.State != "LISTEN" {
		t.Errorf("tcp6 listener %s: got %+v, found %v", want, s, ok)
	}
}

func TestUnixSockets(t *testing.T) {
	before, err := UnixSockets(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", t.TempDir()+"/s")
	if err != nil {
		t.Fatal(err)
	}
	during, err := UnixSockets(os.Getpid())
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	if during != before+1 {
		t.Errorf("unix sockets: %d before listening, %d while listening; want one more", before, during)
	}
	// A Unix socket must not show up as an internet one.
	socks, err := InetSockets(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if len(socks) != 0 {
		t.Errorf("InetSockets = %+v, want none", socks)
	}
}

func TestNoSuchProcess(t *testing.T) {
	if _, err := InetSockets(-1); err == nil {
		t.Error("InetSockets(-1) succeeded")
	}
	if _, err := UnixSockets(-1); err == nil {
		t.Error("UnixSockets(-1) succeeded")
	}
}

func TestParseAddr(t *testing.T) {
	// Values as a little-endian kernel prints them; on a big-endian one
	// the words would be printed the other way round.
	if !littleEndian() {
		t.Skip("test vectors are for little-endian hosts")
	}
	for _, tc := range []struct{ in, want string }{
		{"0100007F:1F90", "127.0.0.1:8080"},
		{"00000000:0035", "0.0.0.0:53"},
		{"00000000000000000000000001000000:0016", "[::1]:22"},
		{"0000000000000000FFFF00000100007F:0050", "[::ffff:127.0.0.1]:80"},
	} {
		got, err := parseAddr(tc.in)
		if err != nil || got.String() != tc.want {
			t.Errorf("parseAddr(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "0100007F", "0100007:1F90", "0100007F:XYZ", "01:0001"} {
		if _, err := parseAddr(bad); err == nil {
			t.Errorf("parseAddr(%q) succeeded", bad)
		}
	}
}

func littleEndian() bool {
	return binary.NativeEndian.Uint16([]byte{1, 0}) == 1
}

func TestStateName(t *testing.T) {
	for _, tc := range []struct {
		table string
		code  uint8
		want  string
	}{
		{"tcp", 0x0A, "LISTEN"},
		{"tcp6", 0x01, "ESTABLISHED"},
		{"tcp", 0x07, "CLOSE"},
		{"udp", 0x07, "UNCONN"},
		{"udp6", 0x01, "ESTABLISHED"},
		{"tcp", 0x42, "0x42"},
	} {
		if got := stateName(tc.table, tc.code); got != tc.want {
			t.Errorf("stateName(%s, %#x) = %q, want %q", tc.table, tc.code, got, tc.want)
		}
	}
}
