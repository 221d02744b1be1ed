package acl

import (
	"errors"
	"fmt"
	"os/user"
	"strconv"

	"github.com/BurntSushi/toml"

	"github.com/daemoneye/eventbus/topic"
)

// BrokerUser stands for the broker's own user in a policy file's users and
// default_users lists.
const BrokerUser = "$broker"

// fileFormat is the TOML policy file; docs/security.md documents it.
type fileFormat struct {
	// Defaults starts from the built-in principals; principals defined in
	// the file replace built-in ones of the same name.
	Defaults bool `toml:"defaults"`
	// DefaultUsers may claim the built-in principals; empty means root (on
	// Windows SYSTEM) and the broker's own user.
	DefaultUsers []string          `toml:"default_users"`
	Principals   []principalFormat `toml:"principal"`
}

type principalFormat struct {
	Name        string      `toml:"name"`
	Users       []string    `toml:"users"`
	UIDs        []int64     `toml:"uids"`
	Groups      []string    `toml:"groups"`
	GIDs        []int64     `toml:"gids"`
	SIDs        []string    `toml:"sids"`
	Executables []string    `toml:"executables"`
	Admin       bool        `toml:"admin"`
	Publish     rulesFormat `toml:"publish"`
	Subscribe   rulesFormat `toml:"subscribe"`
}

type rulesFormat struct {
	Allow []string `toml:"allow"`
	Deny  []string `toml:"deny"`
}

// LoadFile reads and validates the policy file at path. brokerUID is the
// uid that BrokerUser stands for; on Windows BrokerUser stands for this
// process's user SID instead. Errors name the line (syntax) or the
// principal and field (meaning).
func LoadFile(path string, brokerUID uint32) (*Policy, error) {
	var f fileFormat
	md, err := toml.DecodeFile(path, &f)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return nil, fmt.Errorf("acl: policy %s: line %d: %s", path, perr.Position.Line, perr.Message)
		}
		return nil, fmt.Errorf("acl: policy %s: %w", path, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		return nil, fmt.Errorf("acl: policy %s: unknown key %q", path, undecoded[0].String())
	}
	return f.build(path, brokerUID)
}

func (f *fileFormat) build(source string, brokerUID uint32) (*Policy, error) {
	var principals []*Principal
	var errs []error
	defined := map[string]bool{}
	for i, pf := range f.Principals {
		pr, err := pf.build(brokerUID)
		if err != nil {
			label := pf.Name
			if label == "" {
				label = "#" + strconv.Itoa(i+1)
			}
			errs = append(errs, fmt.Errorf("principal %q: %w", label, err))
			continue
		}
		defined[pr.Name] = true
		principals = append(principals, pr)
	}
	if f.Defaults {
		users := f.DefaultUsers
		if len(users) == 0 {
			users = []string{"root", BrokerUser}
			if onWindows {
				users[0] = SystemSID
			}
		}
		uids, sids, err := resolveUsers(users, brokerUID)
		if err != nil {
			errs = append(errs, fmt.Errorf("default_users: %w", err))
		}
		for _, d := range defaultPrincipals(uids, sids) {
			if !defined[d.Name] {
				principals = append(principals, d)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("acl: policy %s: %w", source, err)
	}
	return New(source, principals...)
}

func (pf *principalFormat) build(brokerUID uint32) (*Principal, error) {
	if pf.Name == "" {
		return nil, errors.New("name is missing")
	}
	pr := &Principal{Name: pf.Name, Executables: pf.Executables, Admin: pf.Admin}
	var err error
	if pr.UIDs, pr.SIDs, err = resolveUsers(pf.Users, brokerUID); err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	for _, id := range pf.UIDs {
		if id < 0 || id > 1<<32-1 {
			return nil, fmt.Errorf("uids: %d is not a uid", id)
		}
		pr.UIDs = append(pr.UIDs, uint32(id))
	}
	if pr.GIDs, err = resolveGroups(pf.Groups); err != nil {
		return nil, fmt.Errorf("groups: %w", err)
	}
	for _, id := range pf.GIDs {
		if id < 0 || id > 1<<32-1 {
			return nil, fmt.Errorf("gids: %d is not a gid", id)
		}
		pr.GIDs = append(pr.GIDs, uint32(id))
	}
	for i, s := range pf.SIDs {
		sid, err := canonicalSID(s)
		if err != nil {
			return nil, fmt.Errorf("sids[%d]: %w", i, err)
		}
		pr.SIDs = append(pr.SIDs, sid)
	}
	for _, r := range []struct {
		field string
		in    []string
		out   *[]topic.Filter
	}{
		{"publish.allow", pf.Publish.Allow, &pr.Publish.Allow},
		{"publish.deny", pf.Publish.Deny, &pr.Publish.Deny},
		{"subscribe.allow", pf.Subscribe.Allow, &pr.Subscribe.Allow},
		{"subscribe.deny", pf.Subscribe.Deny, &pr.Subscribe.Deny},
	} {
		for i, s := range r.in {
			filter, err := topic.ParseFilter(s)
			if err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", r.field, i, err)
			}
			*r.out = append(*r.out, filter)
		}
	}
	return pr, nil
}

// resolveUsers turns user names into uids and, for Windows accounts, SIDs.
// BrokerUser is brokerUID, or on Windows this process's SID. A name written
// as a SID ("S-1-5-18") is taken as it is. A user whose uid is not a number
// is a Windows account, whose uid os/user reports as its SID.
func resolveUsers(names []string, brokerUID uint32) (uids []uint32, sids []string, err error) {
	for _, n := range names {
		switch {
		case n == BrokerUser && onWindows:
			sid, err := currentSID()
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", BrokerUser, err)
			}
			sids = append(sids, sid)
			continue
		case n == BrokerUser:
			uids = append(uids, brokerUID)
			continue
		case looksLikeSID(n):
			sid, err := canonicalSID(n)
			if err != nil {
				return nil, nil, fmt.Errorf("user %w", err)
			}
			sids = append(sids, sid)
			continue
		}
		u, err := user.Lookup(n)
		if err != nil {
			return nil, nil, fmt.Errorf("user %q: %w", n, err)
		}
		if id, err := strconv.ParseUint(u.Uid, 10, 32); err == nil {
			uids = append(uids, uint32(id))
			continue
		}
		sid, err := canonicalSID(u.Uid)
		if err != nil {
			return nil, nil, fmt.Errorf("user %q has uid %q, neither a number nor a SID", n, u.Uid)
		}
		sids = append(sids, sid)
	}
	return uids, sids, nil
}

// resolveGroups turns group names into gids. A Windows group, whose gid
// os/user reports as a SID, is refused: a Windows peer is identified by its
// user SID alone, so a group SID would silently match nobody.
func resolveGroups(names []string) ([]uint32, error) {
	var ids []uint32
	for _, n := range names {
		g, err := user.LookupGroup(n)
		if err != nil {
			return nil, fmt.Errorf("group %q: %w", n, err)
		}
		id, err := strconv.ParseUint(g.Gid, 10, 32)
		if err != nil {
			if looksLikeSID(g.Gid) {
				return nil, fmt.Errorf("group %q is the Windows group %s; Windows peers are matched by their user SID only, "+
					"so list the members in users or sids", n, g.Gid)
			}
			return nil, fmt.Errorf("group %q has a non-numeric gid %q", n, g.Gid)
		}
		ids = append(ids, uint32(id))
	}
	return ids, nil
}
