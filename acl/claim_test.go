package acl_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/daemoneye/eventbus/acl"
)

const testExe = "/usr/libexec/daemoneye/procmond"

func claimPolicy(t *testing.T) *acl.Policy {
	t.Helper()
	p, err := acl.New("test",
		&acl.Principal{Name: "procmond", UIDs: []uint32{1000}, GIDs: []uint32{2000}},
		&acl.Principal{Name: "pinned", UIDs: []uint32{1000}, Executables: []string{testExe}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAdmitGranted(t *testing.T) {
	p := claimPolicy(t)
	for _, tc := range []struct {
		what, name string
		peer       acl.Peer
	}{
		{"uid listed", "procmond", acl.Peer{UID: 1000, GID: 5}},
		{"gid listed", "procmond", acl.Peer{UID: 7, GID: 2000}},
		{"both listed", "procmond", acl.Peer{UID: 1000, GID: 2000}},
		{"executable matches", "pinned", acl.Peer{UID: 1000, GID: 5, Executable: testExe}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			pr, err := p.Admit(tc.name, tc.peer)
			if err != nil {
				t.Fatalf("Admit(%q, %+v): %v", tc.name, tc.peer, err)
			}
			if pr != p.Principal(tc.name) || pr.Name != tc.name {
				t.Errorf("Admit(%q) returned %v, want the policy's principal", tc.name, pr)
			}
		})
	}
}

func TestAdmitRefused(t *testing.T) {
	p := claimPolicy(t)
	for _, tc := range []struct {
		what, name string
		peer       acl.Peer
		want       error
		mentions   []string
	}{
		{"neither uid nor gid", "procmond", acl.Peer{UID: 7, GID: 8},
			acl.ErrClaimRefused, []string{"uid 7", "gid 8", `"procmond"`}},
		{"unknown name", "rootkit", acl.Peer{UID: 1000, GID: 2000},
			acl.ErrUnknownPrincipal, []string{`"rootkit"`}},
		{"other executable", "pinned", acl.Peer{UID: 1000, Executable: "/tmp/procmond"},
			acl.ErrClaimRefused, []string{"/tmp/procmond", `"pinned"`}},
		{"unknown executable", "pinned", acl.Peer{UID: 1000},
			acl.ErrClaimRefused, []string{"executable unknown", `"pinned"`}},
		{"right executable, wrong uid", "pinned", acl.Peer{UID: 7, GID: 8, Executable: testExe},
			acl.ErrClaimRefused, []string{"uid 7", "gid 8", `"pinned"`}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			pr, err := p.Admit(tc.name, tc.peer)
			if err == nil {
				t.Fatalf("Admit(%q, %+v) = %v, want an error", tc.name, tc.peer, pr)
			}
			if pr != nil {
				t.Errorf("Admit returned principal %v with error %v", pr, err)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("error %q does not wrap %v", err, tc.want)
			}
			other := acl.ErrClaimRefused
			if tc.want == acl.ErrClaimRefused {
				other = acl.ErrUnknownPrincipal
			}
			if errors.Is(err, other) {
				t.Errorf("error %q also wraps %v", err, other)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %s", err, m)
				}
			}
		})
	}
}
