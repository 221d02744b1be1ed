package acl

import (
	"fmt"
	"os/user"
	"runtime"
	"strconv"
	"strings"
)

// SystemSID is the SID of Windows' LocalSystem account (NT AUTHORITY\SYSTEM),
// the counterpart of root: with the broker's own user, it may claim the
// built-in principals on Windows unless a policy file says otherwise.
const SystemSID = "S-1-5-18"

// onWindows says whether peers are identified by SIDs rather than uids. It
// is a variable so that tests on other platforms can apply the Windows
// rules.
var onWindows = runtime.GOOS == "windows"

// currentSID returns the SID of the user this process runs as. On Windows
// os/user reports it as the uid. It is a variable so that tests can stand
// in for it.
var currentSID = func() (string, error) {
	u, err := user.Current()
	if err != nil {
		return "", err
	}
	sid, err := canonicalSID(u.Uid)
	if err != nil {
		return "", fmt.Errorf("this process's user id %q is not a SID", u.Uid)
	}
	return sid, nil
}

// platformDefaultSIDs is who may claim the built-in principals on Windows:
// SYSTEM and the broker's own user. It is nil elsewhere. If the broker's
// SID cannot be read, only SYSTEM is left, which fails closed.
func platformDefaultSIDs() []string {
	if !onWindows {
		return nil
	}
	sids := []string{SystemSID}
	if sid, err := currentSID(); err == nil && sid != SystemSID {
		sids = append(sids, sid)
	}
	return sids
}

// looksLikeSID reports whether s is written as a SID rather than a name.
func looksLikeSID(s string) bool {
	return len(s) > 4 && strings.EqualFold(s[:4], "S-1-")
}

// canonicalSID returns s with an upper-case "S", as Windows writes SIDs, or
// an error when s is not a SID in the usual decimal form.
func canonicalSID(s string) (string, error) {
	if looksLikeSID(s) {
		s = "S" + s[1:]
	}
	if !validSID(s) {
		return "", fmt.Errorf("%q is not a SID (S-1-<authority>-<subauthority>...)", s)
	}
	return s, nil
}

// validSID reports whether s is a SID string: "S-1-", an identifier
// authority below 2^48, and one to fifteen 32-bit subauthorities, all in
// decimal without leading zeros. An "s" in lower case is accepted, as
// Windows accepts it.
func validSID(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) < 4 || len(parts) > 3+15 || (parts[0] != "S" && parts[0] != "s") || parts[1] != "1" {
		return false
	}
	if !decimal(parts[2], 48) {
		return false
	}
	for _, p := range parts[3:] {
		if !decimal(p, 32) {
			return false
		}
	}
	return true
}

// decimal reports whether s is a number below 2^bits, written without sign
// or leading zeros.
func decimal(s string, bits int) bool {
	n, err := strconv.ParseUint(s, 10, bits)
	return err == nil && strconv.FormatUint(n, 10) == s
}

// isAbsExecutable reports whether exe is an absolute path as a kernel
// reports a program: /usr/libexec/... on Unix, C:\... on Windows.
func isAbsExecutable(exe string) bool {
	if strings.HasPrefix(exe, "/") {
		return true
	}
	return len(exe) >= 3 && exe[1] == ':' && exe[2] == '\\' &&
		('A' <= exe[0] && exe[0] <= 'Z' || 'a' <= exe[0] && exe[0] <= 'z')
}
