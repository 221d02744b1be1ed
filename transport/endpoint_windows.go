//go:build windows

package transport

// DefaultEndpoint returns the named pipe a broker listens on by default.
func DefaultEndpoint() string {
	return `\\.\pipe\eventbus`
}
