package acl

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/daemoneye/eventbus/topic"
)

// Errors a claim check returns; each failure wraps one of them.
var (
	// ErrUnknownPrincipal: no principal has the claimed name.
	ErrUnknownPrincipal = errors.New("acl: unknown principal")
	// ErrClaimRefused: the principal exists but this peer may not claim it.
	ErrClaimRefused = errors.New("acl: claim refused")
)

// Peer is what the kernel says about the process on the other end.
//
// On Unix the kernel reports a uid and a gid. On Windows it reports a user
// SID instead, and UID and GID are zero and mean nothing. A peer with a SID
// is therefore matched by a principal's SIDs alone, never by its UIDs or
// GIDs, so that a Windows peer's zero UID cannot pass for root.
type Peer struct {
	UID, GID uint32
	// SID is the peer's user SID on Windows, such as
	// "S-1-5-21-1004336348-1177238915-682003330-1001"; "" on Unix.
	SID        string
	Executable string // "" when unknown
}

// who names the peer in refusals.
func (peer Peer) who() string {
	if peer.SID != "" {
		return "sid " + peer.SID
	}
	return fmt.Sprintf("uid %d gid %d", peer.UID, peer.GID)
}

// Rules are allow and deny filters for one operation.
type Rules struct {
	Allow, Deny []topic.Filter
}

// permits reports whether name is allowed and not denied.
func (r *Rules) permits(name string) bool {
	for _, d := range r.Deny {
		if d.Matches(name) {
			return false
		}
	}
	for _, a := range r.Allow {
		if a.Matches(name) {
			return true
		}
	}
	return false
}

// Principal is one role on the bus. It is immutable once in a Policy.
type Principal struct {
	Name string
	// UIDs and GIDs say who may claim the name on Unix: a peer whose uid
	// is in UIDs or whose primary gid is in GIDs.
	UIDs, GIDs []uint32
	// SIDs say who may claim the name on Windows: a peer whose user SID is
	// one of these, written as strings such as "S-1-5-18" (SYSTEM).
	SIDs []string
	// Executables, when not empty, further requires the peer's executable
	// to be one of these absolute paths (/usr/libexec/... or
	// C:\Program Files\..., exactly as the kernel reports it).
	Executables []string
	Publish     Rules
	Subscribe   Rules
	// Admin allows listing every session's subscriptions and
	// disconnecting sessions.
	Admin bool
}

// mayClaim reports whether peer may claim p, and why not.
func (p *Principal) mayClaim(peer Peer) error {
	if !p.claimableBy(peer) {
		return fmt.Errorf("%w: %s may not claim %q", ErrClaimRefused, peer.who(), p.Name)
	}
	if len(p.Executables) > 0 && !slices.Contains(p.Executables, peer.Executable) {
		exe := peer.Executable
		if exe == "" {
			exe = "unknown"
		}
		return fmt.Errorf("%w: executable %s may not claim %q", ErrClaimRefused, exe, p.Name)
	}
	return nil
}

// claimableBy applies UIDs and GIDs to a peer without a SID (Unix) and
// SIDs to a peer with one (Windows); see Peer.
func (p *Principal) claimableBy(peer Peer) bool {
	if peer.SID != "" {
		return slices.ContainsFunc(p.SIDs, func(s string) bool { return strings.EqualFold(s, peer.SID) })
	}
	return slices.Contains(p.UIDs, peer.UID) || slices.Contains(p.GIDs, peer.GID)
}

// CanPublish reports whether p may publish to the topic name. Use a
// PublishCache on hot paths.
func (p *Principal) CanPublish(name string) bool { return p.Publish.permits(name) }

// CanReceive reports whether p may receive an event on the topic name
// through a subscription granted with Filtered.
func (p *Principal) CanReceive(name string) bool { return p.Subscribe.permits(name) }

// Decision is the outcome of a subscription check.
type Decision uint8

const (
	// Refused: the subscription must not be made.
	Refused Decision = iota
	// Granted: every topic the filter matches is allowed.
	Granted
	// Filtered: only some topics the filter matches are allowed. Each
	// delivery must pass CanReceive.
	Filtered
)

func (d Decision) String() string {
	switch d {
	case Granted:
		return "granted"
	case Filtered:
		return "filtered"
	default:
		return "refused"
	}
}

// CheckSubscribe decides on a subscription to f, with the reason when it is
// refused.
func (p *Principal) CheckSubscribe(f topic.Filter) (Decision, string) {
	for _, d := range p.Subscribe.Deny {
		if d.Covers(f) {
			return Refused, fmt.Sprintf("%s may not subscribe to %s: denied by %s", p.Name, f, d)
		}
	}
	covered, overlaps := false, false
	for _, a := range p.Subscribe.Allow {
		covered = covered || a.Covers(f)
		overlaps = overlaps || a.Overlaps(f)
	}
	if !overlaps {
		return Refused, fmt.Sprintf("%s may not subscribe to %s: no rule allows it", p.Name, f)
	}
	if !covered {
		return Filtered, ""
	}
	for _, d := range p.Subscribe.Deny {
		if d.Overlaps(f) {
			return Filtered, ""
		}
	}
	return Granted, ""
}

// Policy maps client names to principals. It is immutable and safe for
// concurrent use; a reload builds a new one.
type Policy struct {
	principals map[string]*Principal
	source     string // where it came from, for logs
}

// New builds a policy from principals, validating them.
func New(source string, principals ...*Principal) (*Policy, error) {
	p := &Policy{principals: make(map[string]*Principal, len(principals)), source: source}
	var errs []error
	for _, pr := range principals {
		if err := validatePrincipal(pr); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := p.principals[pr.Name]; dup {
			errs = append(errs, fmt.Errorf("principal %q: defined twice", pr.Name))
			continue
		}
		p.principals[pr.Name] = pr
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("acl: policy %s: %w", source, err)
	}
	return p, nil
}

func validatePrincipal(pr *Principal) error {
	if pr.Name == "" {
		return errors.New("principal with an empty name")
	}
	if len(pr.UIDs) == 0 && len(pr.GIDs) == 0 && len(pr.SIDs) == 0 {
		return fmt.Errorf("principal %q: nobody may claim it (no uids, users, gids, groups or sids)", pr.Name)
	}
	for _, sid := range pr.SIDs {
		if !validSID(sid) {
			return fmt.Errorf("principal %q: %q is not a SID (S-1-<authority>-<subauthority>...)", pr.Name, sid)
		}
	}
	for _, exe := range pr.Executables {
		if !isAbsExecutable(exe) {
			return fmt.Errorf("principal %q: executable %q is not an absolute path", pr.Name, exe)
		}
	}
	for _, f := range pr.Publish.Allow {
		if strings.HasPrefix(f.String(), "$") {
			return fmt.Errorf("principal %q: publish.allow %q: $ topics are published by the broker alone", pr.Name, f)
		}
	}
	return nil
}

// Source says where the policy came from: "built-in default" or a path.
func (p *Policy) Source() string { return p.source }

// Principal returns the principal named name, or nil.
func (p *Policy) Principal(name string) *Principal { return p.principals[name] }

// Names returns the principals' names, sorted.
func (p *Policy) Names() []string {
	names := make([]string, 0, len(p.principals))
	for n := range p.principals {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Admit checks a claim: peer says it is name. It returns the principal, or
// an error wrapping ErrUnknownPrincipal or ErrClaimRefused that says why.
func (p *Policy) Admit(name string, peer Peer) (*Principal, error) {
	pr := p.principals[name]
	if pr == nil {
		return nil, fmt.Errorf("%w: no principal named %q in the policy", ErrUnknownPrincipal, name)
	}
	if err := pr.mayClaim(peer); err != nil {
		return nil, err
	}
	return pr, nil
}

// Admitter decides claims: whether peer may claim name, and with what
// rights. *Policy is the implementation; AdmitFunc adapts a function.
type Admitter interface {
	Admit(name string, peer Peer) (*Principal, error)
}

// AdmitFunc adapts an ordinary function to Admitter.
type AdmitFunc func(name string, peer Peer) (*Principal, error)

// Admit calls f.
func (f AdmitFunc) Admit(name string, peer Peer) (*Principal, error) { return f(name, peer) }
