package acl_test

import (
	"slices"
	"testing"

	"github.com/daemoneye/eventbus/acl"
)

func TestDefault(t *testing.T) {
	p := acl.Default(0, 1000)
	want := []string{"daemoneye-agent", "ebctl", "fsmond", "netmond", "perfmond", "procmond"}
	if got := p.Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	if p.Source() != "built-in default" {
		t.Errorf("Source() = %q", p.Source())
	}
	for _, name := range want {
		pr := p.Principal(name)
		if pr.Admin != (name == acl.AgentName) {
			t.Errorf("%s: Admin = %v", name, pr.Admin)
		}
		for _, uid := range []uint32{0, 1000} {
			if _, err := p.Admit(name, acl.Peer{UID: uid, GID: 4000}); err != nil {
				t.Errorf("uid %d may not claim %s: %v", uid, name, err)
			}
		}
		if _, err := p.Admit(name, acl.Peer{UID: 1001, GID: 1000}); err == nil {
			t.Errorf("uid 1001 may claim %s", name)
		}
	}
}
