package acl_test

import (
	"strings"
	"testing"

	"github.com/daemoneye/eventbus/acl"
	"github.com/daemoneye/eventbus/topic"
)

func TestNewRejects(t *testing.T) {
	f := topic.MustParseFilter
	for _, tc := range []struct {
		what       string
		principals []*acl.Principal
		mentions   []string
	}{
		{"nobody may claim", []*acl.Principal{{Name: "orphan"}},
			[]string{`"orphan"`, "nobody may claim it"}},
		{"empty name", []*acl.Principal{{UIDs: []uint32{1}}},
			[]string{"empty name"}},
		{"defined twice", []*acl.Principal{{Name: "twin", UIDs: []uint32{1}}, {Name: "twin", GIDs: []uint32{2}}},
			[]string{`"twin"`, "defined twice"}},
		{"relative executable", []*acl.Principal{{Name: "exe", UIDs: []uint32{1}, Executables: []string{"bin/procmond"}}},
			[]string{`"exe"`, `"bin/procmond"`, "not an absolute path"}},
		{"publish $SYS", []*acl.Principal{{Name: "sys", UIDs: []uint32{1}, Publish: acl.Rules{Allow: []topic.Filter{f("events.#"), f("$SYS.#")}}}},
			[]string{`"sys"`, `"$SYS.#"`, "published by the broker alone"}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			p, err := acl.New("test.toml", tc.principals...)
			if err == nil {
				t.Fatalf("New accepted it: %v", p.Names())
			}
			for _, m := range append(tc.mentions, "acl: policy test.toml") {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %s", err, m)
				}
			}
		})
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := acl.New("test",
		&acl.Principal{Name: "orphan"},
		&acl.Principal{Name: "fine", UIDs: []uint32{1}},
		&acl.Principal{Name: "exe", UIDs: []uint32{1}, Executables: []string{"procmond"}},
		&acl.Principal{Name: "fine", UIDs: []uint32{2}},
		&acl.Principal{Name: "sys", GIDs: []uint32{1}, Publish: acl.Rules{Allow: []topic.Filter{topic.MustParseFilter("$SYS.x")}}},
	)
	if err == nil {
		t.Fatal("New accepted four broken principals")
	}
	msg := err.Error()
	for _, m := range []string{`"orphan"`, `"exe"`, `"fine": defined twice`, `"sys"`} {
		if !strings.Contains(msg, m) {
			t.Errorf("error does not report %s:\n%s", m, msg)
		}
	}
	if n := strings.Count(msg, "\n") + 1; n != 4 {
		t.Errorf("error has %d lines, want one per problem (4):\n%s", n, msg)
	}
}

func TestNewAccepts(t *testing.T) {
	p, err := acl.New("test",
		&acl.Principal{Name: "by-gid", GIDs: []uint32{5}},
		&acl.Principal{Name: "sys-watcher", UIDs: []uint32{0}, Subscribe: acl.Rules{Allow: []topic.Filter{topic.MustParseFilter("$SYS.#")}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.Names(), " "); got != "by-gid sys-watcher" {
		t.Errorf("Names() = %s", got)
	}
	if p.Source() != "test" {
		t.Errorf("Source() = %q, want %q", p.Source(), "test")
	}
	if p.Principal("missing") != nil {
		t.Error("Principal(missing) is not nil")
	}
}
