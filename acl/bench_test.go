package acl_test

import (
	"testing"

	"github.com/daemoneye/eventbus/acl"
	"github.com/daemoneye/eventbus/topic"
)

// benchProcmond is the built-in procmond with a few deny rules added, as a
// site policy might.
func benchProcmond(b *testing.B) *acl.Principal {
	b.Helper()
	var pr *acl.Principal
	for _, p := range acl.DefaultPrincipals(0, 1000) {
		if p.Name == "procmond" {
			pr = p
		}
	}
	if pr == nil {
		b.Fatal("no built-in procmond")
	}
	pr.Publish.Deny = append(pr.Publish.Deny,
		topic.MustParseFilter("events.process.secret.#"),
		topic.MustParseFilter("events.process.debug.#"),
		topic.MustParseFilter("events.process.+.raw"),
	)
	if _, err := acl.New("bench", pr); err != nil {
		b.Fatal(err)
	}
	return pr
}

func BenchmarkPublishCheck(b *testing.B) {
	pr := benchProcmond(b)
	name := topic.EventsProcessLifecycle
	b.Run("cached", func(b *testing.B) {
		c := acl.NewPublishCache(pr, 0)
		if !c.Allowed(name) {
			b.Fatalf("procmond may not publish %s", name)
		}
		b.ReportAllocs()
		for b.Loop() {
			if !c.Allowed(name) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !pr.CanPublish(name) {
				b.Fatal("refused")
			}
		}
	})
}

func BenchmarkCheckSubscribe(b *testing.B) {
	p := acl.Default(0, 1000)
	for _, bc := range []struct {
		name, principal, filter string
		want                    acl.Decision
	}{
		{"granted", acl.AgentName, "events.#", acl.Granted},
		{"filtered", acl.AgentName, "#", acl.Filtered},
		{"refused", "procmond", "events.#", acl.Refused},
	} {
		b.Run(bc.name, func(b *testing.B) {
			pr := p.Principal(bc.principal)
			f := topic.MustParseFilter(bc.filter)
			b.ReportAllocs()
			for b.Loop() {
				if d, _ := pr.CheckSubscribe(f); d != bc.want {
					b.Fatalf("%v, want %v", d, bc.want)
				}
			}
		})
	}
}
