//go:build unix

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Bounds of the waits for a child that is not measuring anything.
const (
	readyTimeout = 30 * time.Second // start, connect, subscribe or listen
	exitGrace    = 5 * time.Second  // exit after its stdin was closed
	killWait     = 5 * time.Second  // exit after SIGKILL
)

// supervisor starts children and keeps track of them, so that all can be
// killed however the run ends.
type supervisor struct {
	exe    string
	stderr io.Writer

	mu   sync.Mutex
	live map[*child]struct{}
}

// child is one process running a role.
type child struct {
	name     string
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	msgs     chan message // ready, result and error events, in order
	progress atomic.Int64
	exited   chan struct{} // closed once the process has been waited for
	waitErr  error         // set before exited is closed
	closeIn  sync.Once
}

func newSupervisor(exe string, stderr io.Writer) *supervisor {
	return &supervisor{exe: exe, stderr: stderr, live: make(map[*child]struct{})}
}

// start runs a child with cfg as its command line.
func (s *supervisor) start(name string, cfg roleConfig) (*child, error) {
	cmd := exec.Command(s.exe, cfg.args()...)
	cmd.Stderr = s.stderr
	cmd.SysProcAttr = childProcAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, msgs: make(chan message, 16), exited: make(chan struct{})}
	s.mu.Lock()
	s.live[c] = struct{}{}
	s.mu.Unlock()
	go func() {
		c.read(stdout, s.stderr)
		c.waitErr = cmd.Wait()
		close(c.exited)
		s.mu.Lock()
		delete(s.live, c)
		s.mu.Unlock()
	}()
	return c, nil
}

// read takes the child's events from its stdout until it closes. Lines
// that are not events are passed on to stderr.
func (c *child) read(stdout io.Reader, stderr io.Writer) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 64<<20) // a histogram line can be long
	for sc.Scan() {
		var m message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m.Event == "" {
			fmt.Fprintf(stderr, "ebbench: %s: %s\n", c.name, sc.Bytes())
			continue
		}
		if m.Event == evProgress {
			c.progress.Store(m.N)
			continue
		}
		select {
		case c.msgs <- m:
		default: // a child that says more than this is broken
			fmt.Fprintf(stderr, "ebbench: %s: unexpected %s event dropped\n", c.name, m.Event)
		}
	}
	io.Copy(io.Discard, stdout) // after a too-long line: let the child go on
}

// tell sends a command line to the child.
func (c *child) tell(cmd string) error {
	if _, err := io.WriteString(c.stdin, cmd+"\n"); err != nil {
		return fmt.Errorf("tell %s %q: %w", c.name, cmd, err)
	}
	return nil
}

// await waits for the child's next event, which must be want: a failure,
// an exit and a timeout are errors.
func (c *child) await(ctx context.Context, want string, timeout time.Duration) (message, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var m message
	select {
	case m = <-c.msgs:
	case <-c.exited:
		select {
		case m = <-c.msgs: // sent just before it exited
		default:
			return m, fmt.Errorf("%s exited (%v) before %s", c.name, c.waitErr, want)
		}
	case <-timer.C:
		return m, fmt.Errorf("%s: no %s within %v", c.name, want, timeout)
	case <-ctx.Done():
		return m, context.Cause(ctx)
	}
	switch {
	case m.Event == evError:
		return m, fmt.Errorf("%s: %s", c.name, m.Error)
	case m.Event != want:
		return m, fmt.Errorf("%s: got %s, want %s", c.name, m.Event, want)
	case want == evResult && m.Result == nil:
		return m, fmt.Errorf("%s: result without a body", c.name)
	}
	return m, nil
}

// closeStdin tells the child to stop.
func (c *child) closeStdin() { c.closeIn.Do(func() { c.stdin.Close() }) }

// kill ends the child's process group at once.
func (c *child) kill() {
	// The child leads its own group (childProcAttr): this reaches it and
	// anything it started.
	if err := syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		c.cmd.Process.Kill()
	}
}

// stopAll closes the children's stdin, waits up to grace for them to exit
// and kills those that did not. It returns when all have been waited for,
// or gives up on a child that SIGKILL does not end within killWait.
func stopAll(children []*child, grace time.Duration) error {
	for _, c := range children {
		c.closeStdin()
	}
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	var errs []error
	for _, c := range children {
		select {
		case <-c.exited:
			continue
		case <-deadline.C:
			deadline.Reset(0) // the others have had their grace too
		}
		select {
		case <-c.exited:
			continue
		default:
		}
		c.kill()
		select {
		case <-c.exited:
			errs = append(errs, fmt.Errorf("%s did not stop within %v and was killed", c.name, grace))
		case <-time.After(killWait):
			errs = append(errs, fmt.Errorf("%s (pid %d) did not die after SIGKILL", c.name, c.cmd.Process.Pid))
		}
	}
	return errors.Join(errs...)
}

// killAll kills every child still running.
func (s *supervisor) killAll() {
	s.mu.Lock()
	children := make([]*child, 0, len(s.live))
	for c := range s.live {
		children = append(children, c)
	}
	s.mu.Unlock()
	stopAll(children, 0)
}

// processCPU is the CPU time this process has used, user and system, in
// nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
