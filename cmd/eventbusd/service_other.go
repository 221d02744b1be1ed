//go:build !windows

package main

import (
	"errors"
	"io"
)

// errWindowsOnly is what `eventbusd service` returns here: a Unix broker
// is run by the init system (docs/operations.md).
var errWindowsOnly = errors.New("service: the service subcommand is Windows-only; " +
	"on Linux use packaging/systemd, on macOS packaging/launchd, on FreeBSD an rc.d script (see docs/operations.md)")

// serviceCommand runs `eventbusd service ARGS`, which exists only on
// Windows.
func serviceCommand(args []string, stdout io.Writer) error {
	return errWindowsOnly
}

// runAsService reports false: only Windows has a service control manager
// to run under.
func runAsService(args []string) (handled bool, err error) {
	return false, nil
}
