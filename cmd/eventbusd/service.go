package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// The Windows service. This file holds the parts that are pure logic, so
// that they are built and tested on every platform: the `eventbusd service`
// command line and the logger that writes to the Windows event log through
// a small interface. service_windows.go talks to the service control
// manager; service_other.go says the command is Windows-only.

// serviceName is the Windows service's name, and its event log source.
const serviceName = "eventbusd"

const serviceUsage = `usage: eventbusd service install [eventbusd flags...]
       eventbusd service uninstall

install registers eventbusd as a Windows service that starts automatically
and is restarted by the service control manager when it fails. The service
runs this executable with the given flags; relative file names in -config,
-policy, -cpuprofile and -memprofile are made absolute first. uninstall
stops the service and deletes it. Both need an elevated (administrator)
prompt. See docs/operations.md.`

// serviceAction is what `eventbusd service` was asked to do.
type serviceAction int

const (
	serviceInstall serviceAction = iota + 1
	serviceUninstall
	serviceHelp // print serviceUsage
)

// serviceRequest is a parsed `eventbusd service` command line.
type serviceRequest struct {
	action serviceAction
	// daemonArgs are the flags the installed service runs with, in
	// canonical -name=value form, checked by parsing them as eventbusd
	// would.
	daemonArgs []string
}

// pathFlags are the flags that name files. A service starts in
// %WINDIR%\System32, so install makes them absolute.
var pathFlags = map[string]bool{"config": true, "policy": true, "cpuprofile": true, "memprofile": true}

// parseServiceArgs parses what follows `eventbusd service`. abs makes a
// file name absolute (filepath.Abs; tests pass their own).
func parseServiceArgs(args []string, abs func(string) (string, error)) (serviceRequest, error) {
	if len(args) == 0 {
		return serviceRequest{}, fmt.Errorf("service: missing subcommand\n%s", serviceUsage)
	}
	switch args[0] {
	case "install":
		daemonArgs, err := installArgs(args[1:], abs)
		if err != nil {
			return serviceRequest{}, fmt.Errorf("service install: %w", err)
		}
		return serviceRequest{action: serviceInstall, daemonArgs: daemonArgs}, nil
	case "uninstall":
		if len(args) > 1 {
			return serviceRequest{}, fmt.Errorf("service uninstall: unexpected arguments %q\n%s", args[1:], serviceUsage)
		}
		return serviceRequest{action: serviceUninstall}, nil
	case "-h", "-help", "--help", "help":
		return serviceRequest{action: serviceHelp}, nil
	default:
		return serviceRequest{}, fmt.Errorf("service: unknown subcommand %q\n%s", args[0], serviceUsage)
	}
}

// installArgs checks the daemon flags for an installed service and returns
// them in canonical form, file names made absolute. Mistakes surface now,
// at the prompt, not later in the event log: a flag that does not exist, a
// config file that does not parse, a bad mode or log level, a policy file
// that does not load.
func installArgs(args []string, abs func(string) (string, error)) ([]string, error) {
	fs, err := parseFlags(args)
	if err != nil {
		return nil, err
	}
	var out []string
	fs.Visit(func(f *flag.Flag) {
		if err != nil {
			return
		}
		v := f.Value.String()
		switch {
		case f.Name == "print-config":
			err = errors.New("-print-config prints and exits; a service would stop at once")
			return
		case pathFlags[f.Name] && v != "":
			if v, err = abs(v); err != nil {
				err = fmt.Errorf("-%s: %w", f.Name, err)
				return
			}
		}
		out = append(out, "-"+f.Name+"="+v)
	})
	if err != nil {
		return nil, err
	}
	cfg, _, err := parseArgs(out)
	if err != nil {
		return nil, err
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return out, nil
}

// check reports the first setting that would stop the daemon at startup,
// short of listening.
func (c *config) check() error {
	if _, err := c.socketMode(); err != nil {
		return err
	}
	if _, err := c.logHandler(io.Discard); err != nil {
		return err
	}
	if _, err := c.presenceConfig(nil); err != nil {
		return err
	}
	_, err := c.loadPolicy()
	return err
}

// eventSink is the Windows event log as the service's logger uses it.
// golang.org/x/sys/windows/svc/eventlog.Log satisfies it.
type eventSink interface {
	Info(eid uint32, msg string) error
	Warning(eid uint32, msg string) error
	Error(eid uint32, msg string) error
}

// Event ids of the service's event log entries, one per severity, so that
// Event Viewer and Get-WinEvent can filter on them. EventCreate.exe, the
// message file the source is registered with, accepts ids 1 to 1000.
const (
	eventIDInfo    = 1 // debug and info records
	eventIDWarning = 2
	eventIDError   = 3
)

// sinkHandler is a slog.Handler that formats each record with the
// configured text or JSON handler and writes it to an eventSink as one
// entry, its event type chosen by the record's level.
type sinkHandler struct {
	inner slog.Handler // writes into out.buf
	out   *sinkOutput
}

// sinkOutput is shared by a sinkHandler and those derived from it by
// WithAttrs and WithGroup.
type sinkOutput struct {
	mu   sync.Mutex // held across formatting and writing one record
	buf  bytes.Buffer
	sink eventSink
}

// newSinkLogger returns a logger for cfg's level and format that writes to
// sink.
func newSinkLogger(cfg config, sink eventSink) (*slog.Logger, error) {
	out := &sinkOutput{sink: sink}
	inner, err := cfg.logHandler(&out.buf)
	if err != nil {
		return nil, err
	}
	return slog.New(&sinkHandler{inner: inner, out: out}), nil
}

func (h *sinkHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

func (h *sinkHandler) Handle(ctx context.Context, r slog.Record) error {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	h.out.buf.Reset()
	if err := h.inner.Handle(ctx, r); err != nil {
		return err
	}
	msg := strings.TrimSuffix(h.out.buf.String(), "\n")
	switch {
	case r.Level >= slog.LevelError:
		return h.out.sink.Error(eventIDError, msg)
	case r.Level >= slog.LevelWarn:
		return h.out.sink.Warning(eventIDWarning, msg)
	default:
		return h.out.sink.Info(eventIDInfo, msg)
	}
}

func (h *sinkHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &sinkHandler{inner: h.inner.WithAttrs(attrs), out: h.out}
}

func (h *sinkHandler) WithGroup(name string) slog.Handler {
	return &sinkHandler{inner: h.inner.WithGroup(name), out: h.out}
}
