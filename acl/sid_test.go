package acl_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/daemoneye/eventbus/acl"
)

// Windows peers carry a user SID; these tests are pure logic and run on
// every platform.

const (
	aliceSID = "S-1-5-21-1004336348-1177238915-682003330-1001"
	bobSID   = "S-1-5-21-1004336348-1177238915-682003330-1002"
	exeWin   = `C:\Program Files\DaemonEye\procmond.exe`
)

func sidPolicy(t *testing.T) *acl.Policy {
	t.Helper()
	p, err := acl.New("test",
		&acl.Principal{Name: "procmond", SIDs: []string{aliceSID}},
		&acl.Principal{Name: "mixed", UIDs: []uint32{0, 1000}, GIDs: []uint32{0}, SIDs: []string{acl.SystemSID}},
		&acl.Principal{Name: "unix-root", UIDs: []uint32{0}, GIDs: []uint32{0}},
		&acl.Principal{Name: "pinned", SIDs: []string{aliceSID}, Executables: []string{exeWin}},
		&acl.Principal{Name: "lower", SIDs: []string{strings.ToLower(aliceSID)}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAdmitSID(t *testing.T) {
	p := sidPolicy(t)
	for _, tc := range []struct {
		what, name string
		peer       acl.Peer
	}{
		{"sid listed", "procmond", acl.Peer{SID: aliceSID}},
		{"system", "mixed", acl.Peer{SID: acl.SystemSID}},
		{"unix peer of a mixed principal", "mixed", acl.Peer{UID: 1000, GID: 5}},
		{"executable matches", "pinned", acl.Peer{SID: aliceSID, Executable: exeWin}},
		{"sid case", "lower", acl.Peer{SID: aliceSID}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			if _, err := p.Admit(tc.name, tc.peer); err != nil {
				t.Errorf("Admit(%q, %+v): %v", tc.name, tc.peer, err)
			}
		})
	}
}

func TestAdmitSIDRefused(t *testing.T) {
	p := sidPolicy(t)
	for _, tc := range []struct {
		what, name string
		peer       acl.Peer
		mentions   []string
	}{
		{"other sid", "procmond", acl.Peer{SID: bobSID}, []string{"sid " + bobSID, `"procmond"`}},
		// Windows reports no uid: a Windows peer's zero UID and GID must
		// not pass for root's.
		{"windows peer, zero uid", "unix-root", acl.Peer{SID: bobSID}, []string{"sid " + bobSID}},
		{"windows peer, zero uid, mixed", "mixed", acl.Peer{SID: bobSID}, []string{"sid " + bobSID}},
		// And a Unix peer never matches by SID.
		{"unix peer", "procmond", acl.Peer{UID: 1000, GID: 1000}, []string{"uid 1000", "gid 1000"}},
		{"wrong executable", "pinned", acl.Peer{SID: aliceSID, Executable: `C:\Users\Public\procmond.exe`},
			[]string{`C:\Users\Public\procmond.exe`}},
		{"right executable, wrong sid", "pinned", acl.Peer{SID: bobSID, Executable: exeWin}, []string{"sid " + bobSID}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			pr, err := p.Admit(tc.name, tc.peer)
			if !errors.Is(err, acl.ErrClaimRefused) {
				t.Fatalf("Admit(%q, %+v) = %v, %v; want ErrClaimRefused", tc.name, tc.peer, pr, err)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %s", err, m)
				}
			}
		})
	}
}

func TestNewValidatesSIDs(t *testing.T) {
	for _, tc := range []struct {
		what     string
		pr       *acl.Principal
		mentions []string
	}{
		{"not a sid", &acl.Principal{Name: "p", SIDs: []string{"alice"}}, []string{`"p"`, `"alice" is not a SID`}},
		{"sddl alias", &acl.Principal{Name: "p", SIDs: []string{"SY"}}, []string{`"SY" is not a SID`}},
		{"injection", &acl.Principal{Name: "p", SIDs: []string{aliceSID + ")"}}, []string{"is not a SID"}},
		{"nobody", &acl.Principal{Name: "p", SIDs: []string{}}, []string{"nobody may claim it", "sids"}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			_, err := acl.New("test", tc.pr)
			if err == nil {
				t.Fatal("New accepted it")
			}
			for _, m := range tc.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %s", err, m)
				}
			}
		})
	}
	// A SID alone is enough, and so is a Windows executable path.
	if _, err := acl.New("test", &acl.Principal{Name: "p", SIDs: []string{acl.SystemSID}, Executables: []string{exeWin, "/usr/bin/x"}}); err != nil {
		t.Errorf("New: %v", err)
	}
	for _, exe := range []string{`procmond.exe`, `C:procmond.exe`, `\procmond.exe`, `1:\x.exe`} {
		if _, err := acl.New("test", &acl.Principal{Name: "p", SIDs: []string{acl.SystemSID}, Executables: []string{exe}}); err == nil {
			t.Errorf("New accepted the executable %q", exe)
		}
	}
}

func TestLoadFileSIDs(t *testing.T) {
	path := writePolicy(t, `
[[principal]]
name = "procmond"
sids = ["`+aliceSID+`", "s-1-5-18"]
executables = ['C:\Program Files\DaemonEye\procmond.exe']
publish.allow = ["events.process.#"]

# A name written as a SID is taken as one, on any platform.
[[principal]]
name = "netmond"
users = ["`+bobSID+`"]
uids = [4242]
publish.allow = ["events.network.#"]
`)
	p, err := acl.LoadFile(path, brokerUID)
	if err != nil {
		t.Fatal(err)
	}
	proc := p.Principal("procmond")
	if want := []string{aliceSID, acl.SystemSID}; !slices.Equal(proc.SIDs, want) {
		t.Errorf("procmond SIDs = %v, want %v", proc.SIDs, want)
	}
	if _, err := p.Admit("procmond", acl.Peer{SID: aliceSID, Executable: exeWin}); err != nil {
		t.Errorf("alice may not claim procmond: %v", err)
	}
	if _, err := p.Admit("procmond", acl.Peer{SID: bobSID, Executable: exeWin}); !errors.Is(err, acl.ErrClaimRefused) {
		t.Errorf("bob claims procmond: %v", err)
	}
	net := p.Principal("netmond")
	if !slices.Equal(net.SIDs, []string{bobSID}) || !slices.Equal(net.UIDs, []uint32{4242}) {
		t.Errorf("netmond: sids %v uids %v", net.SIDs, net.UIDs)
	}
	for _, peer := range []acl.Peer{{SID: bobSID}, {UID: 4242, GID: 1}} {
		if _, err := p.Admit("netmond", peer); err != nil {
			t.Errorf("%+v may not claim netmond: %v", peer, err)
		}
	}
}

func TestLoadFileSIDErrors(t *testing.T) {
	for _, tc := range []struct {
		what, text string
		mentions   []string
	}{
		{"bad sid", "[[principal]]\nname = \"p1\"\nsids = [\"S-1-5-18\", \"alice\"]\n",
			[]string{`principal "p1"`, "sids[1]", `"alice" is not a SID`}},
		{"sid alias", "[[principal]]\nname = \"p1\"\nsids = [\"BA\"]\n", []string{"sids[0]", `"BA"`}},
		{"bad sid as user", "[[principal]]\nname = \"p1\"\nusers = [\"S-1-5-x\"]\n", []string{"users", `"S-1-5-x" is not a SID`}},
		{"wrong type", "[[principal]]\nname = \"p1\"\nsids = [18]\n", []string{"line 3"}},
		{"empty", "[[principal]]\nname = \"p1\"\nsids = []\n", []string{"nobody may claim it"}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			path := writePolicy(t, tc.text)
			p, err := acl.LoadFile(path, brokerUID)
			if err == nil {
				t.Fatalf("LoadFile accepted it: %v", p.Names())
			}
			for _, m := range tc.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %s", err, m)
				}
			}
		})
	}
}
