// Package acl is the eventbus access policy: who may claim which client
// name, and what each name may publish and subscribe to.
//
// A Policy is a set of principals. Each Principal has a name (the client name
// a process declares in its handshake), the OS identities allowed to claim
// it (uids and gids on Unix, user SIDs on Windows, optionally executable
// paths, as the kernel reports them), allow and deny filters for publishing
// and for subscribing, and whether it may use admin requests. Deny wins over
// allow; no matching rule means no access.
//
// Subscriptions are checked once, when made. A filter entirely inside a
// denied area, or touching nothing allowed, is refused. A filter that is
// allowed as a whole is granted. A wildcard filter that is only partly
// allowed is also granted, but every topic it would deliver is checked
// against the principal with CanReceive. The broker makes that decision
// once per topic and caches it with the route, so a wildcard subscription
// never leaks a denied topic.
//
// Publishes are checked on every message through a PublishCache per
// session, so a topic seen before costs one map lookup.
//
// The package is pure logic: it reads no sockets and no credentials.
// LoadFile is its only I/O, and it reads the policy file.
package acl
