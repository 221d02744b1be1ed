//go:build unix

package transport

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A Windows endpoint on Unix is an error that says so, and nothing is
// created: without the check, \\.\pipe\eventbus would be a relative file
// name and the socket would appear in the working directory.
func TestPipeEndpointOnUnix(t *testing.T) {
	dir := tempDir(t)
	t.Chdir(dir)
	const ep = `\\.\pipe\eventbus`
	l, err := Listen(ep, nil)
	if err == nil {
		l.Close()
		t.Fatal("Listen on a pipe endpoint succeeded")
	}
	if !strings.Contains(err.Error(), "Windows named pipe") || !strings.Contains(err.Error(), ep) {
		t.Errorf("Listen: %q does not say the endpoint is a Windows pipe", err)
	}
	if _, err := Dial(context.Background(), ep); err == nil || !strings.Contains(err.Error(), "Windows named pipe") {
		t.Errorf("Dial: %v, want an error saying the endpoint is a Windows pipe", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files created in the working directory: %v", entries)
	}
}

func TestListenSDDLOnUnix(t *testing.T) {
	ep := newEndpoint(t)
	l, err := Listen(ep, &ListenConfig{SDDL: "D:P(A;;GA;;;SY)"})
	if err == nil {
		l.Close()
		t.Fatal("Listen accepted an SDDL on Unix")
	}
	if !strings.Contains(err.Error(), "SDDL") {
		t.Errorf("Listen: %q does not name the SDDL", err)
	}
	if _, err := os.Lstat(filepath.Dir(ep)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Listen created the socket directory despite the error: %v", err)
	}
}
