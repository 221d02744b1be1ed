package transport

// Windows named-pipe endpoints and security descriptors. This is plain
// string work, so it builds everywhere and its tests run on every platform;
// listen_windows.go and dial_windows.go use it, and the Unix code uses
// looksLikePipe to turn a pipe endpoint away with a clear error.

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// pipePrefix starts every endpoint on Windows: a pipe on this host.
const pipePrefix = `\\.\pipe\`

// maxPipePath is the longest pipe path Windows accepts, in UTF-16 units
// ("The entire pipe name string can be up to 256 characters long").
const maxPipePath = 256

// defaultPipeName is the service-wide pipe: \\.\pipe\eventbus.
const defaultPipeName = "eventbus"

// looksLikePipe reports whether endpoint is written the Windows way
// (\\.\pipe\name, or any other \\ path), which no Unix socket path is.
func looksLikePipe(endpoint string) bool {
	return strings.HasPrefix(endpoint, `\\`)
}

// pipeOnUnix is the error for a named-pipe endpoint on a Unix system.
func pipeOnUnix(endpoint string) error {
	return fmt.Errorf("transport: endpoint %s is a Windows named pipe; on %s the endpoint is a Unix socket path such as %s",
		endpoint, runtime.GOOS, "/run/eventbus/bus.sock")
}

// parsePipeEndpoint checks that endpoint names a named pipe on this host,
// \\.\pipe\<name>, and returns it with the "pipe" component in lower case.
// Pipes on other hosts (\\server\pipe\name) are refused: the bus is local
// only. <name> may not contain \ or /, which Windows could read as path
// separators, nor control characters, and the whole path is at most 256
// UTF-16 units.
func parsePipeEndpoint(endpoint string) (string, error) {
	bad := func(why string) error {
		return fmt.Errorf("transport: endpoint %q %s; on Windows an endpoint is a local named pipe such as %s%s",
			endpoint, why, pipePrefix, defaultPipeName)
	}
	rest, ok := strings.CutPrefix(endpoint, `\\`)
	if !ok {
		return "", bad("is not a named pipe")
	}
	host, rest, ok := strings.Cut(rest, `\`)
	if !ok {
		return "", bad("is not a named pipe")
	}
	if host != "." {
		return "", bad(fmt.Sprintf("names a pipe on host %q, and only pipes on this host (\\\\.\\) are allowed", host))
	}
	kind, name, ok := strings.Cut(rest, `\`)
	if !ok || !strings.EqualFold(kind, "pipe") {
		return "", bad(`is not under \\.\pipe\`)
	}
	switch {
	case name == "":
		return "", bad("has an empty pipe name")
	case name == "." || name == "..":
		return "", bad("has a pipe name that is a path element")
	case !utf8.ValidString(name):
		return "", bad("is not valid UTF-8")
	case strings.ContainsAny(name, `\/`):
		return "", bad(`has \ or / in the pipe name`)
	case strings.ContainsFunc(name, unicode.IsControl):
		return "", bad("has a control character in the pipe name")
	}
	path := pipePrefix + name
	if n := len(utf16.Encode([]rune(path))); n > maxPipePath {
		return "", bad(fmt.Sprintf("is %d characters long, more than the %d Windows allows", n, maxPipePath))
	}
	return path, nil
}

// pipeNameForUser is the pipe name for a broker run by an ordinary user
// (not a service): eventbus-<account>, where account is the user's
// DOMAIN\name with every character but letters, digits, '-', '_' and '.'
// replaced by '_'. Each user gets a pipe of their own, as each Unix user
// gets a socket of their own.
func pipeNameForUser(account string) string {
	if account == "" {
		return defaultPipeName
	}
	clean := strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, account)
	// Stay well inside the 256-character limit; account names are short.
	if r := []rune(clean); len(r) > 128 {
		clean = string(r[:128])
	}
	return defaultPipeName + "-" + clean
}

// Access masks in the default security descriptor.
const (
	// pipeClientRights is FILE_GENERIC_READ | FILE_GENERIC_WRITE without
	// FILE_CREATE_PIPE_INSTANCE (0x4, the same bit as FILE_APPEND_DATA,
	// which GENERIC_WRITE includes). Whoever may create instances of the
	// pipe can put its own server end in the queue and answer the next
	// client in the broker's place, so only trusted principals get it.
	pipeClientRights = 0x0012019b
)

// defaultSDDL is the security descriptor Listen gives a pipe when
// ListenConfig.SDDL is empty. The owner is the broker's user. The DACL is
// protected (P: nothing is inherited) and grants full access to the
// broker's user, SYSTEM (SY) and the Administrators group (BA) only, which
// are trusted anyway. groupSID, when not empty, is admitted as a client
// (pipeClientRights). Nobody else can open the pipe at all.
func defaultSDDL(ownerSID, groupSID string) (string, error) {
	if !validSID(ownerSID) {
		return "", fmt.Errorf("transport: broker user %q is not a SID", ownerSID)
	}
	sddl := "O:" + ownerSID + "D:P(A;;GA;;;" + ownerSID + ")(A;;GA;;;SY)(A;;GA;;;BA)"
	if groupSID != "" {
		if !validSID(groupSID) {
			return "", fmt.Errorf("transport: pipe group %q is not a SID", groupSID)
		}
		sddl += "(A;;0x" + strconv.FormatUint(pipeClientRights, 16) + ";;;" + groupSID + ")"
	}
	return sddl, nil
}

// validSID reports whether s is a SID string: "S-1-", an identifier
// authority below 2^48 and one to fifteen 32-bit subauthorities, in decimal
// without leading zeros. Only such strings are put into a descriptor, so
// that a name cannot smuggle SDDL syntax into it.
func validSID(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) < 4 || len(parts) > 3+15 || parts[0] != "S" || parts[1] != "1" {
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

func decimal(s string, bits int) bool {
	n, err := strconv.ParseUint(s, 10, bits)
	return err == nil && strconv.FormatUint(n, 10) == s
}
