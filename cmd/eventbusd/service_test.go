package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// These tests cover the platform-independent half of the Windows service
// and run everywhere; service_windows_test.go drives the SCM handler.

// fakeAbs makes names absolute under dir, the same way on every platform.
func fakeAbs(dir string) func(string) (string, error) {
	return func(p string) (string, error) {
		if filepath.IsAbs(p) {
			return p, nil
		}
		return filepath.Join(dir, p), nil
	}
}

func TestServiceInstallArgs(t *testing.T) {
	cfgPath := writeConfig(t, "idle_timeout = \"45s\"\n")
	dir, name := filepath.Split(cfgPath)
	req, err := parseServiceArgs([]string{"install", "-config", name, "-presence=false",
		"--log-level", "debug", "-crc=castagnoli", "-idle-timeout", "1m", "-socket", `\\.\pipe\eventbus`}, fakeAbs(dir))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"-config=" + cfgPath, // made absolute
		"-crc=castagnoli",
		"-idle-timeout=1m0s",
		"-log-level=debug",
		"-presence=false",
		`-socket=\\.\pipe\eventbus`, // not a file: left alone
	}
	if req.action != serviceInstall || !slices.Equal(req.daemonArgs, want) {
		t.Fatalf("got %v %q\nwant install %q", req.action, req.daemonArgs, want)
	}
}

// The canonical arguments configure the daemon exactly as the ones given.
func TestServiceInstallArgsKeepTheConfig(t *testing.T) {
	cfgPath := writeConfig(t, "max_connections = 4\ncrc = \"castagnoli\"\n")
	given := []string{"-config", cfgPath, "-max-connections", "9", "-slow-consumer-timeout=-1s",
		"-presence=false", "-presence-missed-beats", "5", "-socket-mode", "0660", "-socket-group", "eventbus",
		"-log-format", "json", "-queue-bytes", "1024", "-handshake-timeout", "1500ms"}
	req, err := parseServiceArgs(append([]string{"install"}, given...), fakeAbs(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := parseArgs(given)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := parseArgs(req.daemonArgs)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("service args %q configure\n%+v\nwant\n%+v", req.daemonArgs, got, want)
	}
}

func TestServiceInstallNoFlags(t *testing.T) {
	req, err := parseServiceArgs([]string{"install"}, fakeAbs(t.TempDir()))
	if err != nil || req.action != serviceInstall || len(req.daemonArgs) != 0 {
		t.Fatalf("got %+v, %v: want install with the defaults", req, err)
	}
}

func TestServiceArgsRefused(t *testing.T) {
	dir := t.TempDir()
	badKey := writeConfig(t, "idle_timout = \"1s\"\n")
	failingAbs := func(string) (string, error) { return "", errors.New("no working directory") }
	for _, tc := range []struct {
		name string
		args []string
		abs  func(string) (string, error)
		want string
	}{
		{"no subcommand", nil, nil, "missing subcommand"},
		{"unknown subcommand", []string{"start"}, nil, `unknown subcommand "start"`},
		{"uninstall with arguments", []string{"uninstall", "-socket", "x"}, nil, "unexpected arguments"},
		{"unknown flag", []string{"install", "-sockett", "x"}, nil, "flag provided but not defined: -sockett"},
		{"positional argument", []string{"install", "run"}, nil, "unexpected arguments"},
		{"print-config", []string{"install", "-print-config"}, nil, "-print-config prints and exits"},
		{"missing config file", []string{"install", "-config", "nope.toml"}, nil, "nope.toml"},
		{"unknown config key", []string{"install", "-config", badKey}, nil, "unknown keys: idle_timout"},
		{"bad log level", []string{"install", "-log-level", "loud"}, nil, `log level "loud"`},
		{"open socket mode", []string{"install", "-socket-mode", "0666"}, nil, "every local user"},
		{"bad missed beats", []string{"install", "-presence-missed-beats", "0"}, nil, "want at least 1"},
		{"missing policy", []string{"install", "-policy", "policy.toml"}, nil, "policy.toml"},
		{"abs fails", []string{"install", "-policy", "policy.toml"}, failingAbs, "-policy: no working directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			abs := tc.abs
			if abs == nil {
				abs = fakeAbs(dir)
			}
			req, err := parseServiceArgs(tc.args, abs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %+v, %v: want an error containing %q", req, err, tc.want)
			}
		})
	}
}

func TestServiceUninstallAndHelp(t *testing.T) {
	for args, want := range map[string]serviceAction{"uninstall": serviceUninstall, "-h": serviceHelp, "help": serviceHelp} {
		req, err := parseServiceArgs([]string{args}, fakeAbs(t.TempDir()))
		if err != nil || req.action != want || req.daemonArgs != nil {
			t.Fatalf("%s: got %+v, %v", args, req, err)
		}
	}
}

// recordingSink is an eventSink that keeps what it is given.
type recordingSink struct {
	mu      sync.Mutex
	entries []sinkEntry
}

type sinkEntry struct {
	kind string // info, warning or error
	eid  uint32
	msg  string
}

func (s *recordingSink) add(kind string, eid uint32, msg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = append(s.entries, sinkEntry{kind, eid, msg})
	return nil
}

func (s *recordingSink) Info(eid uint32, msg string) error    { return s.add("info", eid, msg) }
func (s *recordingSink) Warning(eid uint32, msg string) error { return s.add("warning", eid, msg) }
func (s *recordingSink) Error(eid uint32, msg string) error   { return s.add("error", eid, msg) }

func (s *recordingSink) all() []sinkEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.entries)
}

func TestSinkLoggerLevels(t *testing.T) {
	sink := &recordingSink{}
	cfg := defaultConfig() // info, text
	log, err := newSinkLogger(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("not shown")
	log.Info("eventbusd listening", "socket", `\\.\pipe\eventbus`)
	log.With("session", 7).WithGroup("peer").Warn("slow", "dropped", 3)
	log.Error("policy not reloaded", "err", "line 3")
	got := sink.all()
	want := []struct {
		kind string
		eid  uint32
		text string
	}{
		{"info", eventIDInfo, `level=INFO msg="eventbusd listening" socket=\\.\pipe\eventbus`},
		{"warning", eventIDWarning, `level=WARN msg=slow session=7 peer.dropped=3`},
		{"error", eventIDError, `level=ERROR msg="policy not reloaded" err="line 3"`},
	}
	if len(got) != len(want) {
		t.Fatalf("entries %q", got)
	}
	for i, w := range want {
		g := got[i]
		if g.kind != w.kind || g.eid != w.eid || !strings.Contains(g.msg, w.text) || strings.HasSuffix(g.msg, "\n") {
			t.Errorf("entry %d: %+v, want %s %d containing %q without a final newline", i, g, w.kind, w.eid, w.text)
		}
	}
}

// Each record is one entry, also when goroutines log at once through
// derived loggers; with -log-format json each entry is one JSON object.
func TestSinkLoggerConcurrentJSON(t *testing.T) {
	sink := &recordingSink{}
	cfg := defaultConfig()
	cfg.LogFormat, cfg.LogLevel = "json", "debug"
	log, err := newSinkLogger(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 8, 50
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := log.With("g", g)
			for i := range each {
				l.Debug("record", "i", i)
			}
		}()
	}
	wg.Wait()
	got := sink.all()
	if len(got) != goroutines*each {
		t.Fatalf("%d entries, want %d", len(got), goroutines*each)
	}
	seen := map[string]bool{}
	for _, e := range got {
		var rec struct {
			Level string
			Msg   string
			G, I  int
		}
		if err := json.Unmarshal([]byte(e.msg), &rec); err != nil || rec.Msg != "record" || rec.Level != "DEBUG" {
			t.Fatalf("entry %q: %+v %v", e.msg, rec, err)
		}
		seen[fmt.Sprint(rec.G, rec.I)] = true
	}
	if len(seen) != goroutines*each {
		t.Fatalf("%d distinct records, want %d", len(seen), goroutines*each)
	}
}

func TestSinkLoggerBadSettings(t *testing.T) {
	cfg := defaultConfig()
	cfg.LogFormat = "xml"
	if _, err := newSinkLogger(cfg, &recordingSink{}); err == nil {
		t.Fatal("log format xml accepted")
	}
}

var _ slog.Handler = (*sinkHandler)(nil)
