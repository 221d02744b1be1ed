// Package topic defines the names, filters and subscription index of the
// event bus.
//
// A topic name is what a collector publishes to: dot-separated levels such as
// "events.process.lifecycle". A filter is what a subscriber asks for: a name
// whose levels may also be the wildcards "+" (exactly one level) and, as the
// last level, "#" (zero or more levels). Names whose first level starts with
// '$' ("$SYS.broker.stats") are reserved for the broker, and a filter that
// starts with a wildcard never matches them, so "#" does not drown ordinary
// subscribers in broker internals.
//
// Publishing validates a name on every message, so [ValidateName] does not
// allocate on valid input. Subscribing is rarer and returns a parsed
// [Filter], which keeps its levels so matching never splits strings.
//
// [Index] is what the broker routes with. It maps filters to subscriber values
// in a trie of levels, so matching a name costs time proportional to its
// levels rather than to the number of subscriptions, and it caches the route
// for each recently published name so the steady state is one cache lookup.
// A [Memo] in front of it, one per publishing goroutine, answers for the
// name that goroutine routed last without touching the shared cache.
//
// The topics the agent and its collectors use are constants in this package;
// docs/topics.md describes who publishes and who subscribes to each.
//
// This package imports no other event-bus package.
package topic
