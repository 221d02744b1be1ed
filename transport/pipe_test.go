package transport

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// These tests cover the platform-independent part of the Windows transport
// (pipe.go) and run everywhere.

func TestParsePipeEndpoint(t *testing.T) {
	long := strings.Repeat("p", maxPipePath-len(pipePrefix))
	for _, tc := range []struct{ in, want string }{
		{`\\.\pipe\eventbus`, `\\.\pipe\eventbus`},
		{`\\.\PIPE\eventbus-CORP_alice`, `\\.\pipe\eventbus-CORP_alice`},
		{`\\.\pipe\bus.v2 test`, `\\.\pipe\bus.v2 test`},
		{`\\.\pipe\` + long, `\\.\pipe\` + long},
	} {
		got, err := parsePipeEndpoint(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parsePipeEndpoint(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, mentions string }{
		{`/run/eventbus/bus.sock`, "not a named pipe"},
		{`C:\eventbus\bus.sock`, "not a named pipe"},
		{`\\.`, "not a named pipe"},
		{`\\server\pipe\eventbus`, `host "server"`},
		{`\\localhost\pipe\eventbus`, `host "localhost"`},
		{`\\?\pipe\eventbus`, `host "?"`},
		{`\\.\mailslot\eventbus`, `not under`},
		{`\\.\pipe`, `not under`},
		{`\\.\pipe\`, "empty pipe name"},
		{`\\.\pipe\..`, "path element"},
		{`\\.\pipe\a\b`, `\ or /`},
		{`\\.\pipe\a/../../x`, `\ or /`},
		{"\\\\.\\pipe\\a\x00b", "control character"},
		{"\\\\.\\pipe\\a\nb", "control character"},
		{"\\\\.\\pipe\\\xff", "UTF-8"},
		{`\\.\pipe\` + long + "p", "more than the 256"},
	} {
		got, err := parsePipeEndpoint(tc.in)
		if err == nil {
			t.Errorf("parsePipeEndpoint(%q) = %q, want an error", tc.in, got)
			continue
		}
		if !strings.Contains(err.Error(), tc.mentions) || !strings.Contains(err.Error(), `\\.\pipe\eventbus`) {
			t.Errorf("parsePipeEndpoint(%q): %q should mention %q and show the expected form", tc.in, err, tc.mentions)
		}
	}
}

func TestLooksLikePipe(t *testing.T) {
	for in, want := range map[string]bool{
		`\\.\pipe\eventbus`:       true,
		`\\server\pipe\eventbus`:  true,
		`/run/eventbus/bus.sock`:  false,
		`//run/eventbus/bus.sock`: false, // a valid Unix path
		`relative\bus.sock`:       false,
	} {
		if got := looksLikePipe(in); got != want {
			t.Errorf("looksLikePipe(%q) = %v, want %v", in, got, want)
		}
	}
	if err := pipeOnUnix(`\\.\pipe\eventbus`); !strings.Contains(err.Error(), "Windows named pipe") {
		t.Errorf("pipeOnUnix: %q does not say what is wrong", err)
	}
}

func TestPipeNameForUser(t *testing.T) {
	for in, want := range map[string]string{
		`CORP\alice`:           "eventbus-CORP_alice",
		`HOST\Bob Smith`:       "eventbus-HOST_Bob_Smith",
		`NT AUTHORITY\SYSTEM`:  "eventbus-NT_AUTHORITY_SYSTEM",
		`HOST\josé`:            "eventbus-HOST_josé",
		`a/b:c*d?e"f<g>h|i`:    "eventbus-a_b_c_d_e_f_g_h_i",
		"S-1-5-21-1-2-3-1001":  "eventbus-S-1-5-21-1-2-3-1001",
		"":                     "eventbus",
		strings.Repeat("x", 9): "eventbus-xxxxxxxxx",
	} {
		got := pipeNameForUser(in)
		if got != want {
			t.Errorf("pipeNameForUser(%q) = %q, want %q", in, got, want)
		}
		if _, err := parsePipeEndpoint(pipePrefix + got); err != nil {
			t.Errorf("pipeNameForUser(%q) = %q, which is not a valid endpoint: %v", in, got, err)
		}
	}
	long := pipeNameForUser(strings.Repeat("é", 1000))
	if _, err := parsePipeEndpoint(pipePrefix + long); err != nil {
		t.Errorf("a very long account name gives an invalid endpoint: %v", err)
	}
}

func TestDefaultSDDL(t *testing.T) {
	const user = "S-1-5-21-1004336348-1177238915-682003330-1001"
	got, err := defaultSDDL(user, "")
	if err != nil {
		t.Fatal(err)
	}
	want := "O:" + user + "D:P(A;;GA;;;" + user + ")(A;;GA;;;SY)(A;;GA;;;BA)"
	if got != want {
		t.Errorf("defaultSDDL = %q, want %q", got, want)
	}

	// A group gets read and write without FILE_CREATE_PIPE_INSTANCE (0x4).
	got, err = defaultSDDL(user, "S-1-5-32-545")
	if err != nil {
		t.Fatal(err)
	}
	if want := want + "(A;;0x12019b;;;S-1-5-32-545)"; got != want {
		t.Errorf("defaultSDDL with group = %q, want %q", got, want)
	}
	const (
		fileGenericRead        = 0x00120089
		fileGenericWrite       = 0x00120116
		fileCreatePipeInstance = 0x00000004
		fileWriteData          = 0x00000002
	)
	if pipeClientRights != (fileGenericRead|fileGenericWrite)&^fileCreatePipeInstance {
		t.Errorf("pipeClientRights = %#x", pipeClientRights)
	}
	// What Dial asks for (GENERIC_READ, mapped to FILE_GENERIC_READ, plus
	// FILE_WRITE_DATA) must be within what a group member gets.
	if need := uint32(fileGenericRead | fileWriteData); need&^pipeClientRights != 0 {
		t.Errorf("a client needs %#x, more than the group's %#x", need, pipeClientRights)
	}

	// Nothing but a SID may be spliced into the descriptor.
	for _, tc := range []struct{ owner, group string }{
		{"", ""},
		{"alice", ""},
		{user + ")(A;;GA;;;WD", ""},
		{user, "WD"},
		{user, "S-1-1-0)(A;;GA;;;WD"},
		{user, "Users"},
	} {
		if sddl, err := defaultSDDL(tc.owner, tc.group); err == nil {
			t.Errorf("defaultSDDL(%q, %q) = %q, want an error", tc.owner, tc.group, sddl)
		}
	}
}

func TestValidSID(t *testing.T) {
	for s, want := range map[string]bool{
		"S-1-5-18":     true,
		"S-1-5-32-544": true,
		"S-1-5-21-1004336348-1177238915-682003330-1001": true,
		"S-1-0-0": true,
		"S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15":       true, // 15 subauthorities
		"S-1-5-21-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16": false,
		"S-1-5":                 false,
		"S-2-5-18":              false,
		"s-1-5-18":              false, // transport takes SIDs from Windows, which writes "S"
		"S-1-5-018":             false,
		"S-1-5-4294967296":      false,
		"S-1-281474976710656-1": false,
		"S-1-5--18":             false,
		"S-1-5-18 ":             false,
		"SY":                    false,
		"":                      false,
	} {
		if got := validSID(s); got != want {
			t.Errorf("validSID(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestPeerCredentialsWithSID(t *testing.T) {
	creds := PeerCredentials{SID: "S-1-5-18", PID: 4242, Executable: `C:\Program Files\DaemonEye\procmond.exe`}
	if got, want := creds.String(), `sid=S-1-5-18 pid=4242 exe="C:\\Program Files\\DaemonEye\\procmond.exe"`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := (PeerCredentials{SID: "S-1-5-18"}).String(), "sid=S-1-5-18"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	// A SID is never peer-chosen text, but quoting keeps the line intact
	// whatever happens.
	if got, want := (PeerCredentials{SID: "S-1 x=y"}).String(), `sid="S-1 x=y"`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}

	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	log.Info("accepted", "peer", PeerCredentials{SID: "S-1-5-18", PID: 42, Executable: `C:\procmond.exe`})
	want := `level=INFO msg=accepted peer.sid=S-1-5-18 peer.pid=42 peer.exe=C:\procmond.exe` + "\n"
	if buf.String() != want {
		t.Errorf("log line = %q, want %q", buf.String(), want)
	}
}
