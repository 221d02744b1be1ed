//go:build windows

package transport

import (
	"errors"
	"fmt"
	"os/user"
	"sync"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
)

// DefaultEndpoint returns the named pipe a broker listens on by default.
// A Windows service gets \\.\pipe\eventbus. Any other process gets a pipe
// of its user's, \\.\pipe\eventbus-<DOMAIN>_<user> (characters other than
// letters, digits, '-', '_' and '.' become '_'), as on Unix each user has a
// socket of their own. A collector running as a service therefore finds a
// broker running as a service; an interactive ebctl needs
// -socket \\.\pipe\eventbus to reach it.
func DefaultEndpoint() string { return defaultEndpoint() }

// defaultEndpoint is computed once: finding out whether this is a service
// walks the process list.
var defaultEndpoint = sync.OnceValue(func() string {
	if isService, err := svc.IsWindowsService(); err == nil && isService {
		return pipePrefix + defaultPipeName
	}
	return pipePrefix + pipeNameForUser(currentAccount())
})

// currentAccount names this process's user as DOMAIN\name, or by SID when
// the name cannot be looked up, or "" when not even that works.
func currentAccount() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if sid, err := processUserSID(); err == nil {
		return sid
	}
	return ""
}

// processUserSID returns the SID of the user this process runs as, from
// its primary token, so that impersonation by the calling thread does not
// change the answer.
func processUserSID() (string, error) {
	return tokenUserSID(windows.GetCurrentProcessToken())
}

// tokenUserSID returns the user SID in token t as a string.
func tokenUserSID(t windows.Token) (string, error) {
	u, err := t.GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("GetTokenInformation(TokenUser): %w", err)
	}
	sid := u.User.Sid.String()
	if sid == "" {
		return "", errors.New("the token's user SID cannot be converted to a string")
	}
	return sid, nil
}
