//go:build !windows

package main

import (
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

func TestServiceCommandIsWindowsOnly(t *testing.T) {
	for _, args := range [][]string{nil, {"install"}, {"uninstall"}, {"-h"}} {
		if err := serviceCommand(args, io.Discard); !errors.Is(err, errWindowsOnly) {
			t.Fatalf("service %q: %v, want the Windows-only error", args, err)
		}
	}
	if handled, err := runAsService(nil); handled || err != nil {
		t.Fatalf("runAsService: %v %v, want not handled", handled, err)
	}
}

// The built command says so too, and fails.
func TestServiceCommandMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds eventbusd")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to build eventbusd with")
	}
	exe := t.TempDir() + "/eventbusd"
	if out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(exe, "service", "install").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "Windows-only") {
		t.Fatalf("eventbusd service install: %v\n%s", err, out)
	}
}
