// Package testpolicy provides access policies for tests that exercise
// something other than access control.
package testpolicy

import (
	"github.com/daemoneye/eventbus/acl"
	"github.com/daemoneye/eventbus/topic"
)

// Open admits any claimed name with every right: publishing anywhere (the
// broker still keeps $ topics to itself), subscribing to everything
// including $SYS, and admin requests.
func Open() acl.Admitter {
	everything := acl.Rules{Allow: []topic.Filter{topic.MustParseFilter("#"), topic.MustParseFilter(topic.SysPrefix + ".#")}}
	return acl.AdmitFunc(func(name string, peer acl.Peer) (*acl.Principal, error) {
		return &acl.Principal{
			Name:      name,
			UIDs:      []uint32{peer.UID},
			Publish:   acl.Rules{Allow: everything.Allow[:1]},
			Subscribe: everything,
			Admin:     true,
		}, nil
	})
}
