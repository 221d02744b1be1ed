package acl_test

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/daemoneye/eventbus/acl"
	"github.com/daemoneye/eventbus/topic"
)

const brokerUID = 1500

// TestLoadFileExample loads testdata/policy.toml, the example docs/security.md
// shows.
func TestLoadFileExample(t *testing.T) {
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("the example needs user nobody: %v", err)
	}
	nogroup, err := user.LookupGroup("nogroup")
	if err != nil {
		t.Skipf("the example needs group nogroup: %v", err)
	}
	if nobody.Uid != "65534" || nogroup.Gid != "65534" {
		t.Skipf("nobody is uid %s and nogroup gid %s; the test expects 65534", nobody.Uid, nogroup.Gid)
	}
	path := filepath.Join("testdata", "policy.toml")
	p, err := acl.LoadFile(path, brokerUID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Source() != path {
		t.Errorf("Source() = %q, want %q", p.Source(), path)
	}
	wantNames := []string{"auditd-bridge", "daemoneye-agent", "ebctl", "fsmond", "netmond", "perfmond", "procmond"}
	if got := p.Names(); !slices.Equal(got, wantNames) {
		t.Errorf("Names() = %v, want %v", got, wantNames)
	}

	// The file's procmond replaces the built-in one.
	proc := p.Principal("procmond")
	if !slices.Equal(proc.UIDs, []uint32{65534}) || !slices.Equal(proc.GIDs, []uint32{65534}) ||
		!slices.Equal(proc.Executables, []string{testExe}) {
		t.Errorf("procmond: uids %v gids %v executables %v", proc.UIDs, proc.GIDs, proc.Executables)
	}
	for _, tc := range []struct {
		peer acl.Peer
		ok   bool
	}{
		{acl.Peer{UID: 65534, GID: 65534, Executable: testExe}, true},
		{acl.Peer{UID: 1234, GID: 65534, Executable: testExe}, true},
		{acl.Peer{UID: 65534, GID: 65534, Executable: "/usr/bin/python3"}, false},
		{acl.Peer{UID: brokerUID, GID: brokerUID, Executable: testExe}, false}, // the built-in's claimant
	} {
		if _, err := p.Admit("procmond", tc.peer); (err == nil) != tc.ok {
			t.Errorf("Admit(procmond, %+v) = %v, want ok %v", tc.peer, err, tc.ok)
		}
	}
	for name, want := range map[string]bool{
		topic.EventsProcessLifecycle:   true,
		topic.EventsProcessBatch:       false, // denied
		topic.ControlHealthStatus:      true,
		topic.ControlHealthDiagnostics: false,
	} {
		if got := proc.CanPublish(name); got != want {
			t.Errorf("procmond CanPublish(%s) = %v, want %v", name, got, want)
		}
	}
	for filter, want := range map[string]acl.Decision{
		topic.ControlCollectorTaskProcess: acl.Granted,
		topic.ControlCollectorTaskNetwork: acl.Refused, // denied
		"control.collector.task.+":        acl.Filtered,
		"control.collector.config":        acl.Granted,
	} {
		if got, reason := proc.CheckSubscribe(topic.MustParseFilter(filter)); got != want {
			t.Errorf("procmond CheckSubscribe(%s) = %v (%s), want %v", filter, got, reason, want)
		}
	}

	// The other built-ins stay, claimable by the broker's uid only
	// (default_users = ["$broker"] leaves root out).
	for _, name := range wantNames[1:6] {
		if _, err := p.Admit(name, acl.Peer{UID: brokerUID, GID: 9}); err != nil {
			t.Errorf("the broker uid may not claim %s: %v", name, err)
		}
		if _, err := p.Admit(name, acl.Peer{UID: 0, GID: 0}); !errors.Is(err, acl.ErrClaimRefused) {
			t.Errorf("root claims %s: %v, want ErrClaimRefused", name, err)
		}
	}
	if !p.Principal(acl.AgentName).Admin {
		t.Error("the built-in agent lost Admin")
	}

	// The new principal.
	bridge, err := p.Admit("auditd-bridge", acl.Peer{UID: 4242, GID: 4242})
	if err != nil {
		t.Fatal(err)
	}
	if !bridge.CanPublish("events.audit.login") || bridge.CanPublish(topic.EventsProcessLifecycle) {
		t.Error("auditd-bridge publishes outside events.audit.# or not inside it")
	}
	if d, _ := bridge.CheckSubscribe(topic.MustParseFilter("#")); d != acl.Refused {
		t.Errorf("auditd-bridge subscribing to #: %v, want refused", d)
	}
	if bridge.Admin {
		t.Error("auditd-bridge is admin")
	}
}

func writePolicy(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadFileErrors(t *testing.T) {
	for _, tc := range []struct {
		what, text string
		mentions   []string
		is         error
	}{
		{"syntax", "defaults = true\n\n[[principal]]\nname = \"x\nuids = [1]\n",
			[]string{"line 4"}, nil},
		{"wrong type", "[[principal]]\nname = \"p1\"\nuids = [\"x\"]\n",
			[]string{"line 3"}, nil},
		{"unknown key", "[[principal]]\nname = \"x\"\nuids = [1]\npublsh = [\"events.#\"]\n",
			[]string{"unknown key", "publsh"}, nil},
		{"unknown top-level key", "default = true\n",
			[]string{"unknown key", `"default"`}, nil},
		{"invalid filter", "[[principal]]\nname = \"p1\"\nuids = [1]\npublish.allow = [\"events.#\", \"events.#.x\"]\n",
			[]string{`principal "p1"`, "publish.allow[1]", "events.#.x"}, topic.ErrInvalidFilter},
		{"unknown user", "[[principal]]\nname = \"p1\"\nusers = [\"no-such-user-daemoneye\"]\n",
			[]string{`principal "p1"`, `"no-such-user-daemoneye"`}, nil},
		{"unknown group", "[[principal]]\nname = \"p1\"\ngroups = [\"no-such-group-daemoneye\"]\n",
			[]string{`principal "p1"`, `"no-such-group-daemoneye"`}, nil},
		{"unknown default user", "defaults = true\ndefault_users = [\"no-such-user-daemoneye\"]\n",
			[]string{"default_users", `"no-such-user-daemoneye"`}, nil},
		{"no name", "[[principal]]\nname = \"ok\"\nuids = [1]\n\n[[principal]]\nuids = [2]\n",
			[]string{`principal "#2"`, "name is missing"}, nil},
		{"negative uid", "[[principal]]\nname = \"p1\"\nuids = [-1]\n",
			[]string{`principal "p1"`, "-1 is not a uid"}, nil},
		{"gid too large", "[[principal]]\nname = \"p1\"\ngids = [4294967296]\n",
			[]string{`principal "p1"`, "4294967296 is not a gid"}, nil},
		{"validation", "[[principal]]\nname = \"p1\"\nuids = [1]\nexecutables = [\"procmond\"]\n",
			[]string{`principal "p1"`, "not an absolute path"}, nil},
		{"several", "[[principal]]\nname = \"p1\"\nusers = [\"no-such-user-daemoneye\"]\n\n" +
			"[[principal]]\nname = \"p2\"\nuids = [1]\nsubscribe.deny = [\"a..b\"]\n",
			[]string{`principal "p1"`, `principal "p2"`, "subscribe.deny[0]"}, topic.ErrInvalidFilter},
	} {
		t.Run(tc.what, func(t *testing.T) {
			path := writePolicy(t, tc.text)
			p, err := acl.LoadFile(path, brokerUID)
			if err == nil {
				t.Fatalf("LoadFile accepted it: %v", p.Names())
			}
			for _, m := range append(tc.mentions, path) {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %s", err, m)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q does not wrap %v", err, tc.is)
			}
		})
	}
}

func TestLoadFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.toml")
	_, err := acl.LoadFile(path, brokerUID)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadFile(absent) = %v, want os.ErrNotExist", err)
	}
}

// TestLoadFileEmpty: without defaults and principals the policy is empty,
// and an empty policy admits nobody.
func TestLoadFileEmpty(t *testing.T) {
	for _, text := range []string{"", "defaults = false\n"} {
		p, err := acl.LoadFile(writePolicy(t, text), brokerUID)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if names := p.Names(); len(names) != 0 {
			t.Errorf("%q: Names() = %v, want none", text, names)
		}
		for _, name := range []string{"procmond", acl.AgentName, acl.OperatorName} {
			if _, err := p.Admit(name, acl.Peer{UID: brokerUID}); !errors.Is(err, acl.ErrUnknownPrincipal) {
				t.Errorf("%q: Admit(%s) = %v, want ErrUnknownPrincipal", text, name, err)
			}
		}
	}
}

// TestLoadFileDefaultUsers: without default_users the built-ins are
// claimable by root and the broker's user.
func TestLoadFileDefaultUsers(t *testing.T) {
	if _, err := user.Lookup("root"); err != nil {
		t.Skipf("no root user: %v", err)
	}
	p, err := acl.LoadFile(writePolicy(t, "defaults = true\n"), brokerUID)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Names(); !slices.Equal(got, acl.Default(0).Names()) {
		t.Errorf("Names() = %v, want the built-ins", got)
	}
	for _, uid := range []uint32{0, brokerUID} {
		if _, err := p.Admit("netmond", acl.Peer{UID: uid, GID: 9}); err != nil {
			t.Errorf("uid %d may not claim netmond: %v", uid, err)
		}
	}
	if _, err := p.Admit("netmond", acl.Peer{UID: 1, GID: 9}); !errors.Is(err, acl.ErrClaimRefused) {
		t.Errorf("uid 1 claims netmond: %v", err)
	}
}
