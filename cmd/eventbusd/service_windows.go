//go:build windows

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

const (
	serviceDisplayName = "eventbus broker"
	serviceDescription = "Local publish/subscribe event bus for the DaemonEye agent and its collectors."

	// stopWaitHint is how long the service tells the SCM a stop may take:
	// the broker's shutdown grace and a margin.
	stopWaitHint = shutdownGrace + 5*time.Second
	// uninstallStopTimeout bounds how long uninstall waits for the service
	// to stop before giving up.
	uninstallStopTimeout = 30 * time.Second

	// acceptedControls are the SCM requests the running service accepts:
	// Stop and Shutdown shut it down as SIGTERM does, ParamChange reloads
	// the policy as SIGHUP does.
	acceptedControls = svc.AcceptStop | svc.AcceptShutdown | svc.AcceptParamChange

	// recoveryResetSeconds is how long the service must run without failing
	// before the SCM counts failures from the first again: one day.
	recoveryResetSeconds = 24 * 60 * 60
)

// recoveryActions restart a failed service after 5 s, 5 s, then every 30 s.
var recoveryActions = []mgr.RecoveryAction{
	{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
	{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
	{Type: mgr.ServiceRestart, Delay: 30 * time.Second},
}

// serviceCommand runs `eventbusd service ARGS`.
func serviceCommand(args []string, stdout io.Writer) error {
	req, err := parseServiceArgs(args, filepath.Abs)
	if err != nil {
		return err
	}
	switch req.action {
	case serviceInstall:
		return installService(req.daemonArgs, stdout)
	case serviceUninstall:
		return uninstallService(stdout)
	default:
		fmt.Fprintln(stdout, serviceUsage)
		return nil
	}
}

// installService creates the service: this executable with daemonArgs,
// started automatically, restarted on failure, logging to the Application
// event log under the source eventbusd.
func installService(daemonArgs []string, stdout io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("service install: %w", err)
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("service install: connecting to the service control manager (is this an elevated prompt?): %w", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(serviceName); err == nil {
		s.Close()
		return fmt.Errorf("service install: service %s already exists; run 'eventbusd service uninstall' first", serviceName)
	}
	s, err := m.CreateService(serviceName, exe, mgr.Config{
		StartType:    mgr.StartAutomatic,
		ErrorControl: mgr.ErrorNormal,
		DisplayName:  serviceDisplayName,
		Description:  serviceDescription,
	}, daemonArgs...)
	if err != nil {
		return fmt.Errorf("service install: %w", err)
	}
	defer s.Close()
	if err := setRecovery(s); err != nil {
		s.Delete()
		return fmt.Errorf("service install: recovery actions: %w", err)
	}
	// A source left behind by an earlier install is this service's own:
	// replace it rather than fail.
	_ = eventlog.Remove(serviceName)
	if err := eventlog.InstallAsEventCreate(serviceName, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil {
		s.Delete()
		return fmt.Errorf("service install: event log source: %w", err)
	}
	cfg, err := s.Config()
	if err != nil {
		return fmt.Errorf("service install: %w", err)
	}
	fmt.Fprintf(stdout, "installed service %s, started automatically at boot:\n  %s\nstart it now with: sc.exe start %s\n",
		serviceName, cfg.BinaryPathName, serviceName)
	return nil
}

// setRecovery makes the SCM restart the service when it fails, including
// when it stops with a non-zero exit code (a run that ended in an error)
// rather than by crashing.
func setRecovery(s *mgr.Service) error {
	if err := s.SetRecoveryActions(recoveryActions, recoveryResetSeconds); err != nil {
		return err
	}
	return s.SetRecoveryActionsOnNonCrashFailures(true)
}

// uninstallService stops the service and deletes it and its event log
// source.
func uninstallService(stdout io.Writer) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("service uninstall: connecting to the service control manager (is this an elevated prompt?): %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err != nil {
		return fmt.Errorf("service uninstall: service %s: %w", serviceName, err)
	}
	defer s.Close()
	if err := stopService(s, uninstallStopTimeout); err != nil {
		return fmt.Errorf("service uninstall: stopping %s: %w", serviceName, err)
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("service uninstall: %w", err)
	}
	fmt.Fprintf(stdout, "stopped and deleted service %s\n", serviceName)
	if err := eventlog.Remove(serviceName); err != nil {
		fmt.Fprintf(stdout, "event log source %s not removed: %v\n", serviceName, err)
	}
	return nil
}

// stopService asks the service to stop, repeating the request while it is
// still starting, and waits until it has stopped.
func stopService(s *mgr.Service, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		st, err := s.Query()
		if err != nil {
			return err
		}
		switch st.State {
		case svc.Stopped:
			return nil
		case svc.Running, svc.Paused:
			_, err := s.Control(svc.Stop)
			if err != nil && !errors.Is(err, windows.ERROR_SERVICE_CANNOT_ACCEPT_CTRL) {
				return err
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not stopped after %v (state %d)", timeout, st.State)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// runAsService runs the daemon under the SCM when the SCM started this
// process, and reports whether it did.
func runAsService(args []string) (handled bool, err error) {
	isService, err := svc.IsWindowsService()
	if err != nil {
		return false, fmt.Errorf("detecting the service control manager: %w", err)
	}
	if !isService {
		return false, nil
	}
	elog, err := eventlog.Open(serviceName)
	if err != nil {
		return true, fmt.Errorf("event log: %w", err)
	}
	defer elog.Close()
	if err := svc.Run(serviceName, &scmHandler{args: args, sink: elog}); err != nil {
		elog.Error(eventIDError, "eventbusd: service: "+err.Error())
		return true, err
	}
	return true, nil
}

// scmHandler runs the daemon for the SCM, translating its control
// requests.
type scmHandler struct {
	args []string  // the daemon's flags, from the service's command line
	sink eventSink // where the daemon logs
	err  error     // what the daemon's run returned, once Execute has
}

// Execute implements svc.Handler. The daemon runs as in a terminal, with
// three differences: it logs to the event log, it reports Running once it
// listens, and the SCM's Stop and Shutdown end it as SIGTERM would.
func (h *scmHandler) Execute(_ []string, reqs <-chan svc.ChangeRequest, status chan<- svc.Status) (svcSpecificEC bool, exitCode uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	listening := make(chan struct{})
	reload := make(chan struct{}, 1)
	sup := supervisor{
		logger:    func(c config) (*slog.Logger, error) { return newSinkLogger(c, h.sink) },
		listening: func() { close(listening) },
		reload:    reload,
	}
	done := make(chan error, 1)
	go func() { done <- runSupervised(ctx, h.args, io.Discard, sup) }()
	stopping := false
	for {
		select {
		case <-listening:
			status <- svc.Status{State: svc.Running, Accepts: acceptedControls}
			listening = nil
		case err := <-done:
			h.err = err
			if err == nil {
				return false, 0
			}
			h.sink.Error(eventIDError, "eventbusd: "+err.Error())
			if stopping {
				// Asked to stop: a failed drain must not make the SCM
				// restart the service.
				return false, 0
			}
			return true, 1
		case c := <-reqs:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				if !stopping {
					stopping = true
					status <- svc.Status{State: svc.StopPending, WaitHint: uint32(stopWaitHint / time.Millisecond)}
					cancel()
				}
			case svc.ParamChange:
				select {
				case reload <- struct{}{}:
				default: // a reload is already pending
				}
			}
		}
	}
}

// Compile-time check that the handler is what svc.Run expects, and that
// the event log is a sink.
var (
	_ svc.Handler = (*scmHandler)(nil)
	_ eventSink   = (*eventlog.Log)(nil)
)
