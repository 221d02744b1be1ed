//go:build linux

package e2e

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests check the trust boundary of docs/security.md across real
// processes: clients run as another user (uid 65534, "nobody") and the
// broker learns who they are from SO_PEERCRED. They need root to start
// processes under another uid.

// nobody is the unprivileged user the clients run as.
const nobodyID = 65534

var nobody = &syscall.Credential{Uid: nobodyID, Gid: nobodyID}

// requireRoot skips a test that has to run clients as another user.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs ebctl as uid 65534 to check the broker's SO_PEERCRED-based access control")
	}
}

// socketForOthers returns a socket path in a fresh directory that uid 65534
// can traverse down to the broker's own socket directory, which the broker
// creates with the mode its socket settings call for.
func socketForOthers(t *testing.T) string {
	t.Helper()
	dir := shortTempDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			t.Skipf("uid %d cannot traverse %s (mode %v); set TMPDIR to a directory others can reach", nobodyID, d, st.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	return filepath.Join(dir, "run", "bus.sock")
}

// checkMode fails unless path has permission bits perm and group gid.
func checkMode(t *testing.T, path string, perm fs.FileMode, gid uint32) {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, g := st.Mode().Perm(), st.Sys().(*syscall.Stat_t).Gid; got != perm || g != gid {
		t.Fatalf("%s: mode %04o group %d, want %04o group %d", path, got, g, perm, gid)
	}
}

// oneErrorLine checks that a failed ebctl printed exactly one line,
// "ebctl: ..." containing want.
func oneErrorLine(t *testing.T, what string, err error, stderr, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s succeeded; stderr %q", what, stderr)
	}
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "ebctl: ") || !strings.Contains(lines[0], want) {
		t.Fatalf("%s: stderr %q, want one line 'ebctl: ...%s...'", what, stderr, want)
	}
}

// logLines returns the broker's log lines that contain msg, such as
// `msg="claim refused"`.
func (b *broker) logLines(msg string) []string {
	var out []string
	for _, l := range b.stderr.lines() {
		if strings.Contains(l, msg) {
			out = append(out, l)
		}
	}
	return out
}

// waitLog waits until the broker has logged n lines containing msg and
// returns the last one.
func (b *broker) waitLog(t *testing.T, msg string, n int) string {
	t.Helper()
	var lines []string
	eventually(t, 10*time.Second, "broker log line "+msg, func() bool {
		lines = b.logLines(msg)
		return len(lines) >= n
	})
	if len(lines) != n {
		t.Fatalf("broker logged %q %d times, want %d:\n%s", msg, len(lines), n, strings.Join(lines, "\n"))
	}
	return lines[n-1]
}

// With the default modes (socket 0600 in a 0700 directory) another local
// user cannot connect at all, even where it can reach the directory; the
// broker's own user can.
func TestOtherUserCannotConnectWithDefaultMode(t *testing.T) {
	requireRoot(t)
	b := startBrokerOn(t, socketForOthers(t))
	checkMode(t, filepath.Dir(b.socket), 0o700, 0)
	checkMode(t, b.socket, 0o600, 0)

	args := []string{"pub", "-name", "procmond", "events.process.lifecycle", "x"}
	_, errOut, err := b.ebctlAs(t, nobody, "", args...)
	oneErrorLine(t, "ebctl pub as uid 65534", err, errOut, "permission denied")

	// The socket's own mode is a second barrier: with the directory opened
	// for search, uid 65534 still may not connect.
	if err := os.Chmod(filepath.Dir(b.socket), 0o711); err != nil {
		t.Fatal(err)
	}
	_, errOut, err = b.ebctlAs(t, nobody, "", args...)
	oneErrorLine(t, "ebctl pub as uid 65534 through a 0711 directory", err, errOut, "permission denied")
	if strings.Contains(b.stderr.String(), "session established") {
		t.Fatalf("the broker established a session for uid %d:\n%s", nobodyID, b.stderr.String())
	}

	_, errOut, err = b.ebctl(t, "", args...)
	if err != nil {
		t.Fatalf("ebctl pub as root: %v: %s", err, errOut)
	}
	if want := "published to events.process.lifecycle: 0 receiver(s)\n"; errOut != want {
		t.Fatalf("ebctl pub as root printed %q, want %q", errOut, want)
	}
}

// A user admitted to the socket's group can connect, but may claim only
// what the policy lets its uid claim: not the agent.
func TestWrongUidCannotClaimAgent(t *testing.T) {
	requireRoot(t)
	b := startBrokerOn(t, socketForOthers(t), "-socket-mode", "0660", "-socket-group", "65534")
	checkMode(t, filepath.Dir(b.socket), 0o710, nobodyID)
	checkMode(t, b.socket, 0o660, nobodyID)

	_, errOut, err := b.ebctlAs(t, nobody, "", "sub", "-name", "daemoneye-agent", "events.#")
	oneErrorLine(t, "ebctl sub -name daemoneye-agent as uid 65534", err, errOut,
		`uid 65534 gid 65534 may not claim "daemoneye-agent"`)
	refused := b.waitLog(t, `msg="claim refused"`, 1)
	for _, want := range []string{"session.name=daemoneye-agent", "uid=65534", "gid=65534", "level=WARN"} {
		if !strings.Contains(refused, want) {
			t.Fatalf("claim refusal log line lacks %q: %s", want, refused)
		}
	}

	agent := b.startEbctl(t, "agent", nil, "sub", "-name", "daemoneye-agent", "events.#")
	b.waitSubscribed(t, "daemoneye-agent events.#")
	agent.signal(syscall.SIGKILL)
	_ = agent.wait(10 * time.Second)
	if n := len(b.logLines(`msg="claim refused"`)); n != 1 {
		t.Fatalf("broker logged %d claim refusals, want 1", n)
	}
}

// Under the default policy a collector publishes and subscribes only in its
// own area, and a wildcard subscription of the agent never receives a topic
// the agent may not read.
func TestCollectorConfinedByPolicy(t *testing.T) {
	requireRoot(t)
	b := startBroker(t)

	_, errOut, err := b.ebctl(t, "", "pub", "-name", "procmond", "events.network.connections", "x")
	oneErrorLine(t, "procmond publishing network events", err, errOut, "procmond may not publish to events.network.connections")
	_, errOut, err = b.ebctl(t, "", "sub", "-name", "procmond", "events.#")
	oneErrorLine(t, "procmond subscribing to events.#", err, errOut, "procmond may not subscribe to events.#: no rule allows it")

	procmond := b.startEbctl(t, "procmond", nil, "sub", "-json", "-name", "procmond", "-count", "1", "control.collector.task.process")
	agent := b.startEbctl(t, "agent", nil, "sub", "-json", "-name", "daemoneye-agent", "-count", "1", "#")
	b.waitSubscribed(t, "procmond control.collector.task.process", "daemoneye-agent #")

	// The task reaches procmond only: the agent's # is filtered.
	_, errOut, err = b.ebctl(t, "", "pub", "-name", "daemoneye-agent", "control.collector.task.process", "t1")
	if err != nil {
		t.Fatalf("agent publishing a task: %v: %s", err, errOut)
	}
	if want := "published to control.collector.task.process: 1 receiver(s)\n"; errOut != want {
		t.Fatalf("task publish printed %q, want %q", errOut, want)
	}
	_, errOut, err = b.ebctl(t, "", "pub", "-name", "procmond", "events.process.lifecycle", "e1")
	if err != nil {
		t.Fatalf("procmond publishing an event: %v: %s", err, errOut)
	}
	if want := "published to events.process.lifecycle: 1 receiver(s)\n"; errOut != want {
		t.Fatalf("event publish printed %q, want %q", errOut, want)
	}

	for _, c := range []struct {
		p                       *proc
		topic, payload, pubName string
	}{
		{agent, "events.process.lifecycle", "e1", "procmond"},
		{procmond, "control.collector.task.process", "t1", "daemoneye-agent"},
	} {
		if err := c.p.wait(10 * time.Second); err != nil {
			t.Fatalf("%s subscriber: %v: %s", c.p.name, err, c.p.stderr.String())
		}
		lines := c.p.stdout.lines()
		if len(lines) != 1 {
			t.Fatalf("%s subscriber printed %d lines, want 1:\n%s", c.p.name, len(lines), c.p.stdout.String())
		}
		var m delivered
		if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
			t.Fatalf("%s subscriber line %q: %v", c.p.name, lines[0], err)
		}
		if m.Topic != c.topic || m.Payload != c.payload || m.Publisher.Name != c.pubName {
			t.Fatalf("%s subscriber got %s %q from %s, want %s %q from %s",
				c.p.name, m.Topic, m.Payload, m.Publisher.Name, c.topic, c.payload, c.pubName)
		}
	}
}

// A name no principal has gets nothing, not even a session.
func TestUnknownPrincipalGetsNothing(t *testing.T) {
	requireRoot(t)
	b := startBroker(t)
	_, errOut, err := b.ebctl(t, "", "sub", "-name", "mallory", "events.#")
	oneErrorLine(t, "ebctl sub -name mallory", err, errOut, `no principal named "mallory"`)
	if line := b.waitLog(t, `msg="claim refused"`, 1); !strings.Contains(line, "session.name=mallory") {
		t.Fatalf("claim refusal log line does not name mallory: %s", line)
	}
	if strings.Contains(b.stderr.String(), "session established") {
		t.Fatalf("the broker established a session for mallory:\n%s", b.stderr.String())
	}
}

// SIGHUP reloads the policy file: revoked subscriptions are ended and their
// clients told, publish rights change at once, an invalid file leaves the
// policy in force, and a session whose claim is gone is disconnected.
func TestPolicyReload(t *testing.T) {
	requireRoot(t)
	socket := socketForOthers(t)
	policy := filepath.Join(filepath.Dir(filepath.Dir(socket)), "policy.toml")
	writePolicy := func(text string) {
		t.Helper()
		if err := os.WriteFile(policy, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writePolicy(`defaults = true

[[principal]]
name = "auditd-bridge"
uids = [65534]
publish.allow = ["events.audit.#"]
subscribe.allow = ["control.collector.config"]
`)
	b := startBrokerOn(t, socket, "-policy", policy, "-socket-mode", "0660", "-socket-group", "65534")
	pubAsBridge := func(topic string) (string, error) {
		t.Helper()
		_, errOut, err := b.ebctlAs(t, nobody, "", "pub", "-name", "auditd-bridge", topic, "x")
		return errOut, err
	}

	bridge := b.startEbctlAs(t, nobody, "auditd-bridge sub", nil, "sub", "-name", "auditd-bridge", "control.collector.config")
	b.waitSubscribed(t, "auditd-bridge control.collector.config")
	if errOut, err := pubAsBridge("events.audit.login"); err != nil {
		t.Fatalf("auditd-bridge publishing events.audit.login: %v: %s", err, errOut)
	}

	// Narrower rights: publish only events.audit.admin.#, subscribe nothing.
	writePolicy(`defaults = true

[[principal]]
name = "auditd-bridge"
uids = [65534]
publish.allow = ["events.audit.admin.#"]
subscribe.allow = []
`)
	b.signal(syscall.SIGHUP)
	reloaded := b.waitLog(t, `msg="SIGHUP: policy reloaded"`, 1)
	for _, want := range []string{"sessions=1", "disconnected=0", "subscriptions_revoked=1"} {
		if !strings.Contains(reloaded, want) {
			t.Fatalf("reload summary lacks %q: %s", want, reloaded)
		}
	}
	if err := bridge.wait(10 * time.Second); err == nil {
		t.Fatalf("the subscriber whose only subscription was revoked exited with status 0; stderr %q", bridge.stderr.String())
	}
	const revokedMsg = `"control.collector.config": policy reload: auditd-bridge may not subscribe to control.collector.config: no rule allows it`
	if lines := bridge.stderr.lines(); len(lines) == 0 || !strings.HasPrefix(lines[0], "ebctl: ") || !strings.Contains(lines[0], revokedMsg) {
		t.Fatalf("revoked subscriber's stderr %q, want a first line 'ebctl: ...%s...'", bridge.stderr.String(), revokedMsg)
	}
	errOut, err := pubAsBridge("events.audit.login")
	oneErrorLine(t, "auditd-bridge publishing events.audit.login after the reload", err, errOut,
		"auditd-bridge may not publish to events.audit.login")
	if errOut, err := pubAsBridge("events.audit.admin.x"); err != nil {
		t.Fatalf("auditd-bridge publishing events.audit.admin.x after the reload: %v: %s", err, errOut)
	}

	// An invalid file changes nothing.
	writePolicy(`defaults = true

[[principal]]
name = "auditd-bridge
uids = [65534]
`)
	b.signal(syscall.SIGHUP)
	notReloaded := b.waitLog(t, `msg="SIGHUP: policy not reloaded`, 1)
	if !strings.Contains(notReloaded, policy+": line 4:") {
		t.Fatalf("the reload error does not name the file and line 4: %s", notReloaded)
	}
	if errOut, err := pubAsBridge("events.audit.admin.x"); err != nil {
		t.Fatalf("auditd-bridge lost its rights through an invalid policy file: %v: %s", err, errOut)
	}
	errOut, err = pubAsBridge("events.audit.login")
	oneErrorLine(t, "auditd-bridge publishing events.audit.login after the failed reload", err, errOut,
		"auditd-bridge may not publish to events.audit.login")

	// The principal is gone: its connected session is disconnected. The
	// session is a publisher reading stdin from a pipe the test holds open.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	streamer := b.startEbctlAs(t, nobody, "auditd-bridge pub", r, "pub", "-name", "auditd-bridge", "events.audit.admin.y", "-")
	r.Close()
	b.waitSubscribed(t, "auditd-bridge -") // a session without subscriptions
	writePolicy("defaults = true\n")
	b.signal(syscall.SIGHUP)
	reloaded = b.waitLog(t, `msg="SIGHUP: policy reloaded"`, 2)
	for _, want := range []string{"sessions=1", "disconnected=1", "subscriptions_revoked=0"} {
		if !strings.Contains(reloaded, want) {
			t.Fatalf("reload summary lacks %q: %s", want, reloaded)
		}
	}
	if line := b.waitLog(t, `msg="policy reload: claim no longer allowed; disconnecting"`, 1); !strings.Contains(line, "uid=65534") {
		t.Fatalf("the disconnection log line lacks the peer's uid: %s", line)
	}
	// ebctl pub notices the lost connection at its next line of input at
	// the latest. The write fails with EPIPE if it has already exited.
	_, _ = w.Write([]byte("after-the-reload\n"))
	w.Close()
	if err := streamer.wait(10 * time.Second); err == nil {
		t.Fatalf("the disconnected publisher exited with status 0; stderr %q", streamer.stderr.String())
	}
	const goneMsg = `policy reload: acl: unknown principal: no principal named "auditd-bridge"`
	if got := streamer.stderr.String(); !strings.HasPrefix(got, "ebctl: ") || !strings.Contains(got, goneMsg) {
		t.Fatalf("disconnected publisher's stderr %q, want 'ebctl: ...%s...'", got, goneMsg)
	}
	if strings.Contains(streamer.stderr.String(), "published to") {
		t.Fatalf("the disconnected publisher published: %q", streamer.stderr.String())
	}
	errOut, err = pubAsBridge("events.audit.admin.x")
	oneErrorLine(t, "auditd-bridge publishing after its principal was removed", err, errOut, `no principal named "auditd-bridge"`)
}
