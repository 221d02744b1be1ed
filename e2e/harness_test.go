//go:build unix

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/daemoneye/eventbus/transport"
)

// bin holds the binaries built once for every test.
var bin struct {
	eventbusd, ebctl, procwatch string
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "eventbus-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// MkdirTemp makes the directory 0700; tests that run clients as another
	// user need to execute the binaries in it.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for name, dst := range map[string]*string{"eventbusd": &bin.eventbusd, "ebctl": &bin.ebctl, "procwatch": &bin.procwatch} {
		*dst = filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", *dst, "github.com/daemoneye/eventbus/cmd/"+name)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n", name, err)
			return 1
		}
	}
	return m.Run()
}

// proc is a child process whose output is captured.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdout *lineBuffer
	stderr *lineBuffer
	done   chan struct{}
	err    error // valid after done
}

// lineBuffer collects output and lets a test wait for a line.
type lineBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
	// nl counts the newlines in buf[:scanned], for count.
	nl, scanned int
}

func newLineBuffer() *lineBuffer { return &lineBuffer{changed: make(chan struct{})} }

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	close(b.changed)
	b.changed = make(chan struct{})
	return n, err
}

func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// count returns how many complete lines were written, without copying the
// output: tests poll it while large outputs grow.
func (b *lineBuffer) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.countLocked()
}

func (b *lineBuffer) countLocked() int {
	data := b.buf.Bytes()
	b.nl += bytes.Count(data[b.scanned:], []byte{'\n'})
	b.scanned = len(data)
	return b.nl
}

// waitCount waits until cond holds for the number of complete lines,
// checking on every write rather than on a timer.
func (b *lineBuffer) waitCount(t *testing.T, timeout time.Duration, what string, cond func(lines int) bool) {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		b.mu.Lock()
		n, changed := b.countLocked(), b.changed
		b.mu.Unlock()
		if cond(n) {
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("timed out after %v waiting for %s (%d lines)", timeout, what, n)
		}
	}
}

func (b *lineBuffer) lines() []string {
	s := strings.TrimRight(b.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// start runs a binary with args; the process is killed when the test ends.
func start(t *testing.T, name string, stdin io.Reader, path string, args ...string) *proc {
	t.Helper()
	return startCmd(t, name, stdin, nil, nil, path, args...)
}

// startAs is start with the process running as another user.
func startAs(t *testing.T, cred *syscall.Credential, name string, stdin io.Reader, path string, args ...string) *proc {
	t.Helper()
	return startCmd(t, name, stdin, nil, cred, path, args...)
}

// startWithEnv is start with the environment env instead of the test's.
func startWithEnv(t *testing.T, name string, env []string, path string, args ...string) *proc {
	t.Helper()
	return startCmd(t, name, nil, env, nil, path, args...)
}

// startCmd starts path; a non-nil cred runs it as that user.
func startCmd(t *testing.T, name string, stdin io.Reader, env []string, cred *syscall.Credential, path string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, stdout: newLineBuffer(), stderr: newLineBuffer(), done: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Stdin = stdin
	p.cmd.Env = env
	if cred != nil {
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s stdout:\n%s", name, p.stdout.String())
			t.Logf("%s stderr:\n%s", name, p.stderr.String())
		}
	})
	return p
}

// wait waits for the process to exit and returns its error.
func (p *proc) wait(timeout time.Duration) error {
	p.t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %v\nstdout:\n%s\nstderr:\n%s", p.name, timeout, p.stdout.String(), p.stderr.String())
		return nil
	}
}

func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %s: %v", p.name, err)
	}
}

// broker is a running eventbusd.
type broker struct {
	*proc
	socket string
}

// startBroker runs eventbusd on a fresh socket and waits until it accepts
// connections.
func startBroker(t *testing.T, args ...string) *broker {
	t.Helper()
	return startBrokerOn(t, filepath.Join(shortTempDir(t), "run", "bus.sock"), args...)
}

// startBrokerOn is startBroker on the given socket path.
func startBrokerOn(t *testing.T, socket string, args ...string) *broker {
	t.Helper()
	p := start(t, "eventbusd", nil, bin.eventbusd, append([]string{"-socket", socket, "-log-level", "debug"}, args...)...)
	eventually(t, 10*time.Second, "broker accepting connections", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn, err := transport.Dial(ctx, socket)
		if err != nil {
			return false
		}
		conn.Close()
		return true
	})
	return &broker{proc: p, socket: socket}
}

// ebctl runs one ebctl command against the broker to completion.
func (b *broker) ebctl(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return b.ebctlAs(t, nil, stdin, args...)
}

// ebctlAs is ebctl run as another user when cred is not nil.
func (b *broker) ebctlAs(t *testing.T, cred *syscall.Credential, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(bin.ebctl, withSocket(args, b.socket)...)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("ebctl %v did not finish in 30s; stderr: %s", args, errOut.String())
	}
	return out.String(), errOut.String(), err
}

// startEbctl runs a long-lived ebctl command against the broker.
func (b *broker) startEbctl(t *testing.T, name string, stdin io.Reader, args ...string) *proc {
	t.Helper()
	return start(t, name, stdin, bin.ebctl, withSocket(args, b.socket)...)
}

// startEbctlAs is startEbctl with the process running as another user.
func (b *broker) startEbctlAs(t *testing.T, cred *syscall.Credential, name string, stdin io.Reader, args ...string) *proc {
	t.Helper()
	return startAs(t, cred, name, stdin, bin.ebctl, withSocket(args, b.socket)...)
}

// withSocket puts -socket right after the subcommand.
func withSocket(args []string, socket string) []string {
	return append([]string{args[0], "-socket", socket}, args[1:]...)
}

// subscriptions returns `ebctl subs` rows as "name filter" strings.
func (b *broker) subscriptions(t *testing.T) []string {
	t.Helper()
	out, errOut, err := b.ebctl(t, "", "subs")
	if err != nil {
		t.Fatalf("ebctl subs: %v: %s", err, errOut)
	}
	var rows []string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 5 {
			rows = append(rows, f[1]+" "+f[4])
		}
	}
	return rows
}

// waitSubscribed waits until `ebctl subs` shows every "name filter" row.
func (b *broker) waitSubscribed(t *testing.T, want ...string) {
	t.Helper()
	eventually(t, 15*time.Second, fmt.Sprintf("subscriptions %q", want), func() bool {
		have := map[string]bool{}
		for _, r := range b.subscriptions(t) {
			have[r] = true
		}
		for _, w := range want {
			if !have[w] {
				return false
			}
		}
		return true
	})
}

// eventually polls cond every 20ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// shortTempDir returns a directory whose paths stay under the Unix socket
// path limit, which t.TempDir() can exceed.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "eb-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
