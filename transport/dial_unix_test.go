//go:build unix

package transport

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestDialNoBroker(t *testing.T) {
	ctx := context.Background()
	t.Run("missing", func(t *testing.T) {
		ep := newEndpoint(t)
		_, err := Dial(ctx, ep)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Dial: %v, want fs.ErrNotExist", err)
		}
		wantDialMessage(t, err, ep)
	})
	t.Run("stale", func(t *testing.T) {
		ep := filepath.Join(tempDir(t), "bus.sock")
		leaveStaleSocket(t, ep)
		_, err := Dial(ctx, ep)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("Dial: %v, want ECONNREFUSED", err)
		}
		wantDialMessage(t, err, ep)
	})
}

func wantDialMessage(t *testing.T, err error, ep string) {
	t.Helper()
	if !strings.HasPrefix(err.Error(), "transport: no broker is listening at "+ep+": ") {
		t.Errorf("message %q does not say that no broker listens at the endpoint", err)
	}
}

func TestDialCancelled(t *testing.T) {
	ep := newEndpoint(t)
	mustListen(t, ep, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c, err := Dial(ctx, ep)
	if err == nil {
		c.Close()
		t.Fatal("Dial with a cancelled context succeeded")
	}
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), ep) {
		t.Errorf("Dial: %v, want context.Canceled naming the endpoint", err)
	}
}

func TestEndpointTooLong(t *testing.T) {
	dir := tempDir(t)
	long := filepath.Join(dir, strings.Repeat("d", 120), "bus.sock")
	if _, err := Listen(long, nil); !errors.Is(err, ErrEndpointTooLong) {
		t.Errorf("Listen: %v, want ErrEndpointTooLong", err)
	} else if !strings.Contains(err.Error(), long) || !strings.Contains(err.Error(), "at most") {
		t.Errorf("message %q should name the path and the limit", err)
	}
	if _, err := os.Lstat(filepath.Dir(long)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Listen created the directory of a path it rejected: %v", err)
	}
	if _, err := Dial(context.Background(), long); !errors.Is(err, ErrEndpointTooLong) {
		t.Errorf("Dial: %v, want ErrEndpointTooLong", err)
	}

	// The longest endpoint Listen accepts leaves room for the temporary
	// name, and works.
	extra := len(tempPath("/x")) - len("/x")
	fill := maxSocketPath - extra - len(dir) - len("/")
	ep := filepath.Join(dir, strings.Repeat("s", fill))
	if len(tempPath(ep)) != maxSocketPath {
		t.Fatalf("test setup: temp path is %d bytes", len(tempPath(ep)))
	}
	roundTrip(t, mustListen(t, ep, nil), ep)
	if _, err := Listen(ep+"s", nil); !errors.Is(err, ErrEndpointTooLong) {
		t.Errorf("Listen one byte over: %v, want ErrEndpointTooLong", err)
	}
}

func TestDefaultEndpoint(t *testing.T) {
	fallback := filepath.Join(os.TempDir(), "eventbus-"+strconv.Itoa(os.Geteuid()), "bus.sock")
	for _, tc := range []struct{ xdg, want string }{
		{"/run/user/1000", "/run/user/1000/eventbus/bus.sock"},
		{"", fallback},
		{"relative/dir", fallback},
	} {
		t.Setenv("XDG_RUNTIME_DIR", tc.xdg)
		if got := DefaultEndpoint(); got != tc.want {
			t.Errorf("XDG_RUNTIME_DIR=%q: DefaultEndpoint() = %q, want %q", tc.xdg, got, tc.want)
		}
	}
}
