//go:build unix || windows

package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// helperEnv selects what TestHelperProcess does when the test binary is
// re-executed as a separate process.
const helperEnv = "EVENTBUS_TRANSPORT_HELPER"

// helperCommand returns a command that runs this test binary as a helper
// process. mode is "dial" (connect, print the outcome, exit) or "hold"
// (connect, then stay connected until stdin is closed).
func helperCommand(t *testing.T, mode, endpoint string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(mustExecutable(t), "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperEnv+"_ENDPOINT="+endpoint)
	cmd.Stderr = os.Stderr
	return cmd
}

// TestHelperProcess is not a test: it is the body of the helper processes
// started by helperCommand.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, os.Getenv(helperEnv+"_ENDPOINT"))
	switch mode {
	case "dial":
		fmt.Println(dialOutcome(err))
	case "hold":
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		io.Copy(io.Discard, os.Stdin)
	default:
		fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
		os.Exit(2)
	}
	if c != nil {
		c.Close()
	}
	os.Exit(0)
}

// dialOutcome is "ok", "errno=N" or "error: ..." for a Dial result.
func dialOutcome(err error) string {
	if err == nil {
		return "ok"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return fmt.Sprintf("errno=%d", int(errno))
	}
	return "error: " + err.Error()
}

func mustExecutable(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}
