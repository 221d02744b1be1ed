//go:build unix

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/daemoneye/eventbus/transport"
)

// `ebctl demo` runs a broker, two collector processes and a subscriber
// process, shows events from both collectors through wildcard filters, and
// cleans up after itself.
func TestDemo(t *testing.T) {
	tmp := shortTempDir(t)
	p := startWithEnv(t, "ebctl demo", append(os.Environ(), "TMPDIR="+tmp), bin.ebctl, "demo", "-duration", "2s", "-rate", "10")
	if err := p.wait(60 * time.Second); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, p.stderr.String())
	}
	out := p.stdout.String()
	for _, want := range []string{
		"[agent]   events.process.lifecycle {",
		"[agent]   events.network.connections {",
		"[agent]   events.process.tree {", // a task answered by the process collector
		"[agent]   control.health.heartbeat",
		", 0 dropped,",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("demo left files behind: %v", entries)
	}
}

// Started with no flags by the same user, eventbusd and ebctl meet on the
// default endpoint.
func TestDefaultEndpoint(t *testing.T) {
	runtime := shortTempDir(t)
	env := append(os.Environ(), "XDG_RUNTIME_DIR="+runtime)
	d := startWithEnv(t, "eventbusd", env, bin.eventbusd)
	socket := filepath.Join(runtime, "eventbus", "bus.sock")
	eventually(t, 10*time.Second, "broker on the default endpoint", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c, err := transport.Dial(ctx, socket)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	st, err := os.Stat(filepath.Dir(socket))
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("socket directory: %v, mode %v; want 0700", err, st.Mode().Perm())
	}
	if st, err := os.Lstat(socket); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket: %v; want mode 0600", err)
	}

	sub := startWithEnv(t, "ebctl sub", env, bin.ebctl, "sub", "-count", "1", "events.#")
	eventually(t, 15*time.Second, "ebctl pub to reach the subscriber", func() bool {
		cmd := exec.Command(bin.ebctl, "pub", "-name", "procmond", "events.process.lifecycle", "default-endpoint")
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("pub: %v: %s", err, out)
			return false
		}
		select {
		case <-sub.done:
			return true
		default:
			return false
		}
	})
	if got := strings.TrimSpace(sub.stdout.lines()[0]); got != "events.process.lifecycle default-endpoint" {
		t.Fatalf("subscriber printed %q", got)
	}
	d.signal(syscall.SIGTERM)
	if err := d.wait(10 * time.Second); err != nil {
		t.Fatalf("eventbusd: %v", err)
	}
}

// ebctl reports failures in one line on stderr with a non-zero status.
func TestEbctlFailuresAreOneLine(t *testing.T) {
	b := startBroker(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"pub", "events.+.bad", "x"}, "invalid topic"},
		{[]string{"pub", "$SYS.broker", "x"}, "reserved for the broker"},
		{[]string{"pub", "events.process.lifecycle", "x"}, "ebctl may not publish to events.process.lifecycle"},
		{[]string{"pub", "-name", "procmond", "events.network.connections", "x"}, "procmond may not publish to events.network.connections"},
		{[]string{"sub", "-name", "procmond", "events.#"}, "procmond may not subscribe to events.#: no rule allows it"},
		{[]string{"sub", "-name", "mallory", "events.#"}, `no principal named "mallory"`},
		{[]string{"subs", "-name", "ebctl"}, "is an admin request"},
		{[]string{"sub", "events.#.x"}, "invalid filter"},
		{[]string{"nonsense"}, "unknown command"},
	}
	for _, tc := range cases {
		_, errOut, err := b.ebctl(t, "", tc.args...)
		if err == nil {
			t.Errorf("ebctl %v succeeded", tc.args)
			continue
		}
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		last := lines[len(lines)-1]
		if !strings.HasPrefix(last, "ebctl: ") || !strings.Contains(last, tc.want) {
			t.Errorf("ebctl %v: last stderr line %q, want 'ebctl: ...%s...'", tc.args, last, tc.want)
		}
	}
	missing := exec.Command(bin.ebctl, "pub", "-socket", filepath.Join(shortTempDir(t), "none.sock"), "events.x", "y")
	out, err := missing.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "none.sock") {
		t.Fatalf("pub to a missing broker: err=%v out=%q", err, out)
	}
}
