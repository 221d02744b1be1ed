//go:build unix

package transport

import (
	"path/filepath"
	"testing"
)

func resolve(t *testing.T, path string) string {
	t.Helper()
	if path == "" {
		return ""
	}
	r, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatalf("resolving %q: %v", path, err)
	}
	return r
}
