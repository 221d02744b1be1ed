package procfs

import (
	"os/user"
	"strconv"
	"sync"
)

// DefaultMaxUsers bounds a UserNames cache when its size is not given.
const DefaultMaxUsers = 1024

// UserNames turns user ids into names, caching each answer, found or not.
// The cache holds at most a fixed number of ids; when it is full an
// arbitrary entry makes room. Safe for concurrent use.
type UserNames struct {
	max    int
	lookup func(uid string) (*user.User, error)

	mu    sync.Mutex // guards names
	names map[uint32]string
}

// NewUserNames returns a cache of at most max entries (DefaultMaxUsers when
// max <= 0) over os/user.LookupId.
func NewUserNames(max int) *UserNames {
	return newUserNames(max, user.LookupId)
}

func newUserNames(max int, lookup func(string) (*user.User, error)) *UserNames {
	if max <= 0 {
		max = DefaultMaxUsers
	}
	return &UserNames{max: max, lookup: lookup, names: make(map[uint32]string)}
}

// Name returns the user name of uid, or the number in decimal when the user
// database has no such user.
func (u *UserNames) Name(uid uint32) string {
	u.mu.Lock()
	name, ok := u.names[uid]
	u.mu.Unlock()
	if ok {
		return name
	}
	// Looked up without the lock: a lookup may read files or ask NSS. Two
	// callers may look the same uid up at once; both get the same answer.
	id := strconv.FormatUint(uint64(uid), 10)
	name = id
	if usr, err := u.lookup(id); err == nil && usr.Username != "" {
		name = usr.Username
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.names) >= u.max {
		for k := range u.names {
			delete(u.names, k)
			break
		}
	}
	u.names[uid] = name
	return name
}

// Len returns how many ids are cached.
func (u *UserNames) Len() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.names)
}
