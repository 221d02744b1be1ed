//go:build darwin || freebsd

package transport

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// fromXucred converts a struct xucred. Its first group is the effective gid,
// which is what SO_PEERCRED reports on Linux.
func fromXucred(x *unix.Xucred, pid int32) (PeerCredentials, error) {
	if x.Ngroups < 1 {
		return PeerCredentials{}, fmt.Errorf("%w: the kernel reported no group for the peer", ErrNoCredentials)
	}
	return PeerCredentials{UID: x.Uid, GID: x.Groups[0], PID: pid}, nil
}
