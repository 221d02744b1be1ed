//go:build windows

package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows/svc"
)

// These tests need a Windows machine. They drive the SCM handler directly,
// without the SCM, so they need no administrator rights.

// A test process is not a service.
func TestNotRunAsService(t *testing.T) {
	if handled, err := runAsService(nil); handled || err != nil {
		t.Fatalf("runAsService: %v %v", handled, err)
	}
}

// The handler reports StartPending, then Running once the daemon listens,
// and a Stop request shuts the daemon down cleanly with exit code 0.
func TestExecuteRunsAndStops(t *testing.T) {
	sink := &recordingSink{}
	pipe := fmt.Sprintf(`\\.\pipe\eventbus-test-%d`, os.Getpid())
	h := &scmHandler{args: []string{"-socket", pipe}, sink: sink}
	reqs := make(chan svc.ChangeRequest)
	status := make(chan svc.Status, 8)
	type result struct {
		specific bool
		code     uint32
	}
	done := make(chan result, 1)
	go func() {
		specific, code := h.Execute([]string{serviceName}, reqs, status)
		done <- result{specific, code}
	}()
	if st := <-status; st.State != svc.StartPending {
		t.Fatalf("first status %+v, want StartPending", st)
	}
	select {
	case st := <-status:
		if st.State != svc.Running || st.Accepts != acceptedControls {
			t.Fatalf("status %+v, want Running accepting stop, shutdown and paramchange", st)
		}
	case r := <-done:
		if errors.Is(h.err, errors.ErrUnsupported) {
			t.Skipf("the named pipe transport is not available: %v", h.err)
		}
		t.Fatalf("Execute ended before running: %+v, %v", r, h.err)
	case <-time.After(waitTimeout):
		t.Fatal("not running")
	}
	reqs <- svc.ChangeRequest{Cmd: svc.ParamChange}
	waitForEntry(t, sink, "reload request: no policy file configured")
	reqs <- svc.ChangeRequest{Cmd: svc.Stop}
	if st := <-status; st.State != svc.StopPending {
		t.Fatalf("status %+v, want StopPending", st)
	}
	select {
	case r := <-done:
		if r.specific || r.code != 0 || h.err != nil {
			t.Fatalf("Execute returned %+v, err %v", r, h.err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Execute did not return after Stop")
	}
	var log strings.Builder
	for _, e := range sink.all() {
		log.WriteString(e.msg + "\n")
	}
	for _, want := range []string{"eventbusd listening", "msg=stopped"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("event log lacks %q:\n%s", want, log.String())
		}
	}
}

// A daemon that cannot start ends Execute with a service-specific exit
// code, which the SCM's recovery actions treat as a failure.
func TestExecuteFailsWithExitCode(t *testing.T) {
	sink := &recordingSink{}
	h := &scmHandler{args: []string{"-log-level", "loud"}, sink: sink}
	status := make(chan svc.Status, 8)
	specific, code := h.Execute(nil, make(chan svc.ChangeRequest), status)
	if !specific || code != 1 || h.err == nil {
		t.Fatalf("Execute: %v %d, err %v", specific, code, h.err)
	}
	entries := sink.all()
	if len(entries) != 1 || entries[0].kind != "error" || !strings.Contains(entries[0].msg, `log level "loud"`) {
		t.Fatalf("event log %+v", entries)
	}
}

// waitForEntry waits until an event log entry contains text.
func waitForEntry(t *testing.T, sink *recordingSink, text string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		for _, e := range sink.all() {
			if strings.Contains(e.msg, text) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event log entry contains %q", text)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
