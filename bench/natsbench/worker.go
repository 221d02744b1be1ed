package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/daemoneye/eventbus/bench/internal/result"
)

// childResult is what a role process reports on its last line. Each role
// fills the fields it has.
type childResult struct {
	Sent        int64        `json:"sent,omitempty"`
	Received    int64        `json:"received,omitempty"`
	StartNS     int64        `json:"start_ns,omitempty"` // wall clock of the first publish
	FirstNS     int64        `json:"first_ns,omitempty"` // wall clock of the first message received
	LastNS      int64        `json:"last_ns,omitempty"`  // wall clock of the last message received
	Seconds     float64      `json:"seconds,omitempty"`
	Disconnects int          `json:"disconnects,omitempty"`
	Reconnects  int          `json:"reconnects,omitempty"`
	AsyncErrors int          `json:"async_errors,omitempty"`
	LastError   string       `json:"last_error,omitempty"`
	Clamped     int64        `json:"clamped,omitempty"`
	Dist        *result.Dist `json:"dist,omitempty"`
	// CPUNS is the CPU time, user and system, the process spent from the
	// parent's "go" to its result, in nanoseconds; 0 where it cannot tell.
	CPUNS int64 `json:"cpu_ns,omitempty"`
}

// Lines exchanged with a role process. The parent writes commands to its
// stdin; the child writes "ready" and then "result <json>" to its stdout.
const (
	lineReady  = "ready"
	lineResult = "result "
	cmdGo      = "go"
	cmdDone    = "done"
)

// worker is a role process seen from the parent.
type worker struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	exit  chan error
}

// startWorker re-executes this program in the given role.
func startWorker(role string, args ...string) (*worker, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append([]string{roleFlag, role}, args...)...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = childAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := &worker{name: role, cmd: cmd, stdin: stdin, lines: make(chan string, 4), exit: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
		close(w.lines)
		w.exit <- cmd.Wait()
	}()
	return w, nil
}

// next waits for the worker's next line.
func (w *worker) next(timeout time.Duration) (string, error) {
	select {
	case l, ok := <-w.lines:
		if !ok {
			err := <-w.exit
			w.exit <- err
			return "", fmt.Errorf("%s exited early: %v", w.name, err)
		}
		return l, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("%s: no answer within %v", w.name, timeout)
	}
}

// waitReady waits for the worker's "ready" line.
func (w *worker) waitReady(timeout time.Duration) error {
	l, err := w.next(timeout)
	if err != nil {
		return err
	}
	if l != lineReady {
		return fmt.Errorf("%s: expected %q, got %q", w.name, lineReady, l)
	}
	return nil
}

// send writes one command line to the worker.
func (w *worker) send(cmd string) error {
	_, err := io.WriteString(w.stdin, cmd+"\n")
	return err
}

// result waits for the worker's result line and for it to exit.
func (w *worker) result(timeout time.Duration) (childResult, error) {
	var r childResult
	l, err := w.next(timeout)
	if err != nil {
		return r, err
	}
	js, ok := strings.CutPrefix(l, lineResult)
	if !ok {
		return r, fmt.Errorf("%s: expected a result, got %q", w.name, l)
	}
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		return r, fmt.Errorf("%s: %w", w.name, err)
	}
	w.stdin.Close()
	select {
	case err := <-w.exit:
		if err != nil {
			return r, fmt.Errorf("%s: %w", w.name, err)
		}
	case <-time.After(10 * time.Second):
		return r, errors.New(w.name + ": did not exit after its result")
	}
	return r, nil
}

// kill ends the worker if it is still running. Safe to call after exit:
// os.Process knows when it has been waited for.
func (w *worker) kill() {
	_ = w.cmd.Process.Kill()
}

// killAll ends every worker still running.
func killAll(ws []*worker) {
	for _, w := range ws {
		w.kill()
	}
}
