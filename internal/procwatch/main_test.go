package procwatch

import (
	"context"
	"errors"
	"flag"
	"io"
	"path/filepath"
	"testing"

	"github.com/daemoneye/eventbus/client"
)

func TestMainUsage(t *testing.T) {
	ctx := context.Background()
	if err := Main(ctx, []string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	for _, args := range [][]string{
		{"-interval", "0"}, {"-heartbeat", "-1s"}, {"-max-processes", "0"}, {"-bogus"}, {"extra"},
	} {
		if err := Main(ctx, args, io.Discard); !errors.Is(err, ErrUsage) {
			t.Errorf("%q: %v, want ErrUsage", args, err)
		}
	}
}

func TestRunWithoutBroker(t *testing.T) {
	err := Run(context.Background(), Config{Endpoint: filepath.Join(t.TempDir(), "none.sock")})
	if !errors.Is(err, client.ErrNotConnected) && !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Run without a broker: %v", err)
	}
}

func TestHealth(t *testing.T) {
	w := newWatcher(context.Background(), Config{}.withDefaults(), nil, nil)
	w.st.tracked.Store(12)
	w.st.published.Store(3)
	if status, d := w.health(); status != "ok" || d["tracked"] != "12" || d["published"] != "3" || d["scan_duration"] == "" {
		t.Fatalf("healthy: %q %v", status, d)
	}
	w.st.untracked.Store(2)
	msg := "procfs: open /proc: permission denied"
	w.st.lastScanError.Store(&msg)
	status, d := w.health()
	if status != "degraded" || d["untracked"] != "2" || d["scan_error"] != msg {
		t.Fatalf("unhealthy: %q %v", status, d)
	}
	if diag := w.diagnostics(); diag.Collector != DefaultName || diag.UntrackedProcesses != 2 || diag.LastScanError != msg {
		t.Fatalf("diagnostics: %+v", diag)
	}
}
