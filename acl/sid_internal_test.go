package acl

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

const testBrokerSID = "S-1-5-21-1004336348-1177238915-682003330-1500"

// asWindows applies the Windows rules for the rest of the test, with
// testBrokerSID as the broker's user (or err when not nil).
func asWindows(t *testing.T, err error) {
	t.Helper()
	oldOn, oldSID := onWindows, currentSID
	t.Cleanup(func() { onWindows, currentSID = oldOn, oldSID })
	onWindows = true
	currentSID = func() (string, error) {
		if err != nil {
			return "", err
		}
		return testBrokerSID, nil
	}
}

func TestDefaultOnWindows(t *testing.T) {
	asWindows(t, nil)
	// The broker builds its default policy as Default(0, euid); on Windows
	// os.Geteuid returns -1.
	p := Default(0, ^uint32(0))
	for _, name := range p.Names() {
		pr := p.Principal(name)
		if want := []string{SystemSID, testBrokerSID}; !slices.Equal(pr.SIDs, want) {
			t.Errorf("%s: SIDs = %v, want %v", name, pr.SIDs, want)
		}
		for _, sid := range []string{SystemSID, testBrokerSID} {
			if _, err := p.Admit(name, Peer{SID: sid}); err != nil {
				t.Errorf("%s may not claim %s: %v", sid, name, err)
			}
		}
		// Every Windows peer has UID 0; that must not make it root.
		if _, err := p.Admit(name, Peer{SID: "S-1-5-21-1-2-3-1001"}); !errors.Is(err, ErrClaimRefused) {
			t.Errorf("another user claims %s: %v", name, err)
		}
	}

	// Running as SYSTEM, the broker's SID is not listed twice.
	currentSID = func() (string, error) { return SystemSID, nil }
	if got := Default(0).Principal(AgentName).SIDs; !slices.Equal(got, []string{SystemSID}) {
		t.Errorf("as SYSTEM: SIDs = %v", got)
	}
	// Without the broker's SID, only SYSTEM remains: fail closed.
	currentSID = func() (string, error) { return "", errors.New("no token") }
	if got := Default(0).Principal(AgentName).SIDs; !slices.Equal(got, []string{SystemSID}) {
		t.Errorf("without the broker's SID: SIDs = %v", got)
	}
}

func TestDefaultNotWindows(t *testing.T) {
	old := onWindows
	t.Cleanup(func() { onWindows = old })
	onWindows = false
	if got := Default(0, 1000).Principal(AgentName).SIDs; got != nil {
		t.Errorf("SIDs = %v on Unix, want none", got)
	}
}

func writeTestPolicy(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadFileOnWindows(t *testing.T) {
	asWindows(t, nil)
	const alice = "S-1-5-21-1004336348-1177238915-682003330-1001"

	// Without default_users, SYSTEM and the broker's user claim the
	// built-ins (there is no root user to look up).
	p, err := LoadFile(writeTestPolicy(t, "defaults = true\n"), 1500)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range p.Names() {
		if got, want := p.Principal(name).SIDs, []string{SystemSID, testBrokerSID}; !slices.Equal(got, want) {
			t.Errorf("%s: SIDs = %v, want %v", name, got, want)
		}
		if got := p.Principal(name).UIDs; len(got) != 0 {
			t.Errorf("%s: UIDs = %v, want none on Windows", name, got)
		}
	}

	// $broker is the broker's SID, in default_users and in users.
	p, err = LoadFile(writeTestPolicy(t, `defaults = true
default_users = ["$broker"]

[[principal]]
name = "auditd-bridge"
users = ["$broker", "`+alice+`"]
publish.allow = ["events.audit.#"]
`), 1500)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Principal(AgentName).SIDs; !slices.Equal(got, []string{testBrokerSID}) {
		t.Errorf("agent SIDs = %v, want the broker's only", got)
	}
	if _, err := p.Admit(AgentName, Peer{SID: SystemSID}); !errors.Is(err, ErrClaimRefused) {
		t.Errorf("SYSTEM claims the agent although default_users leaves it out: %v", err)
	}
	if got := p.Principal("auditd-bridge").SIDs; !slices.Equal(got, []string{testBrokerSID, alice}) {
		t.Errorf("auditd-bridge SIDs = %v", got)
	}
	if _, err := p.Admit("auditd-bridge", Peer{SID: alice}); err != nil {
		t.Errorf("alice may not claim auditd-bridge: %v", err)
	}

	// When the broker's SID is unknown, $broker is an error.
	asWindows(t, errors.New("no token"))
	if _, err := LoadFile(writeTestPolicy(t, "defaults = true\ndefault_users = [\"$broker\"]\n"), 1500); err == nil {
		t.Error("LoadFile resolved $broker without the broker's SID")
	}
}

func TestCanonicalSID(t *testing.T) {
	for in, want := range map[string]string{
		"S-1-5-18":     "S-1-5-18",
		"s-1-5-32-544": "S-1-5-32-544",
	} {
		if got, err := canonicalSID(in); err != nil || got != want {
			t.Errorf("canonicalSID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "S-1-5", "S-1-5-018", "SY", "S-1-5-18)", "S-1-5-4294967296"} {
		if got, err := canonicalSID(in); err == nil {
			t.Errorf("canonicalSID(%q) = %q, want an error", in, got)
		}
	}
}
