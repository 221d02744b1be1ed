//go:build unix

package transport

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// DefaultEndpoint returns where a broker listens by default:
// $XDG_RUNTIME_DIR/eventbus/bus.sock when XDG_RUNTIME_DIR is set to an
// absolute path, else eventbus-<euid>/bus.sock under [os.TempDir].
func DefaultEndpoint() string {
	// A relative XDG_RUNTIME_DIR would put the socket wherever the broker
	// happens to be started, and a client would look somewhere else.
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, "eventbus", "bus.sock")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("eventbus-%d", os.Geteuid()), "bus.sock")
}

// maxSocketPath is the longest path that fits in sun_path with its
// terminating NUL. Linux would take one byte more without the NUL, but the
// BSDs would not, and one portable limit is easier to document.
const maxSocketPath = len(unix.RawSockaddrUnix{}.Path) - 1

// tempPath is where Listen binds before renaming onto endpoint. Holding the
// endpoint's lock is what makes this name exclusive, so it needs no PID or
// random part, and staying short leaves room for long endpoints.
func tempPath(endpoint string) string {
	dir, base := filepath.Split(endpoint)
	return dir + "." + base + ".tmp"
}

func lockPath(endpoint string) string {
	return endpoint + ".lock"
}

// checkEndpointLength reports ErrEndpointTooLong when path, or the longer
// name bound while listening (extra bytes), cannot be a socket address.
func checkEndpointLength(endpoint string, extra int) error {
	if len(endpoint)+extra <= maxSocketPath {
		return nil
	}
	return &detailError{
		sentinel: ErrEndpointTooLong,
		msg: fmt.Sprintf("transport: endpoint %s is %d bytes; Unix socket paths on this platform allow at most %d",
			endpoint, len(endpoint), maxSocketPath-extra),
	}
}
