package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/presence"
	"github.com/daemoneye/eventbus/wire"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "eventbusd.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaultsMatchBroker(t *testing.T) {
	cfg, _, err := parseArgs(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := broker.DefaultConfig()
	bc := cfg.brokerConfig(nil, nil)
	if bc.Wire.MaxFrameSize != wire.DefaultMaxFrameSize || bc.MaxConnections != d.MaxConnections ||
		bc.HandshakeTimeout != d.HandshakeTimeout || bc.IdleTimeout != d.IdleTimeout || bc.WriteTimeout != d.WriteTimeout ||
		bc.SlowConsumerTimeout != d.SlowConsumerTimeout || bc.FlowControlWait != d.FlowControlWait {
		t.Fatalf("daemon defaults %+v differ from broker defaults %+v", bc, d)
	}
	if cfg.SocketMode != "0600" || cfg.CRC != wire.CRCIEEE {
		t.Fatalf("socket mode %s crc %s", cfg.SocketMode, cfg.CRC)
	}
	pc, err := cfg.presenceConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Presence || pc.MissedBeats != presence.DefaultMissedBeats {
		t.Fatalf("presence %v, missed beats %d: want the tracker on with the package's default", cfg.Presence, pc.MissedBeats)
	}
}

func TestFileThenFlags(t *testing.T) {
	path := writeConfig(t, `
socket = "/tmp/x/bus.sock"
crc = "castagnoli"
idle_timeout = "45s"
max_connections = 4
slow_consumer_timeout = "7s"
flow_control_wait = "-1ms"
`)
	cfg, _, err := parseArgs([]string{"-config", path, "-max-connections", "8", "-slow-consumer-timeout", "2s"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Socket != "/tmp/x/bus.sock" || cfg.CRC != wire.CRCCastagnoli || cfg.IdleTimeout != 45*time.Second {
		t.Fatalf("file values not applied: %+v", cfg)
	}
	if cfg.MaxConnections != 8 {
		t.Fatalf("flag should win over the file: max_connections = %d", cfg.MaxConnections)
	}
	if cfg.SlowConsumerTimeout != 2*time.Second || cfg.brokerConfig(nil, nil).SlowConsumerTimeout != 2*time.Second {
		t.Fatalf("flag should win over the file and reach the broker: slow_consumer_timeout = %v", cfg.SlowConsumerTimeout)
	}
	if cfg.brokerConfig(nil, nil).FlowControlWait >= 0 {
		t.Fatalf("flow_control_wait from the file should reach the broker: %v", cfg.FlowControlWait)
	}
	if cfg.WriteTimeout != broker.DefaultWriteTimeout {
		t.Fatalf("unset keys keep their defaults: write_timeout = %v", cfg.WriteTimeout)
	}
}

func TestPresenceSettings(t *testing.T) {
	path := writeConfig(t, "presence = false\npresence_missed_beats = 5\n")
	cfg, _, err := parseArgs([]string{"-config", path})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Presence || cfg.PresenceMissedBeats != 5 {
		t.Fatalf("file values not applied: presence %v, missed beats %d", cfg.Presence, cfg.PresenceMissedBeats)
	}
	cfg, _, err = parseArgs([]string{"-config", path, "-presence", "-presence-missed-beats", "2"})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Presence || cfg.PresenceMissedBeats != 2 {
		t.Fatalf("flags should win over the file: presence %v, missed beats %d", cfg.Presence, cfg.PresenceMissedBeats)
	}
	for _, n := range []int{0, -1} {
		c := defaultConfig()
		c.PresenceMissedBeats = n
		if _, err := c.presenceConfig(nil); err == nil || !strings.Contains(err.Error(), "presence_missed_beats") {
			t.Errorf("missed beats %d: err %v", n, err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name, body, want string
	}{
		{"unknown key", "max_conections = 3\n", "unknown keys: max_conections"},
		{"syntax error names the line", "socket = \"/x\"\nmax_connections = = 3\n", "line 2"},
		{"bad crc", "crc = \"md5\"\n", "unknown CRC variant"},
		{"bad duration", "idle_timeout = \"soon\"\n", "idle_timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseArgs([]string{"-config", writeConfig(t, tc.body)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSocketModeRefusesWorldAccess(t *testing.T) {
	for mode, ok := range map[string]bool{"0600": true, "0660": true, "0666": false, "0606": false, "rw": false, "01600": false} {
		c := config{SocketMode: mode}
		_, err := c.socketMode()
		if (err == nil) != ok {
			t.Errorf("socket mode %s: err=%v, want ok=%v", mode, err, ok)
		}
	}
}

func TestPrintConfigIsAValidConfigFile(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-print-config", "-max-connections", "7", "-crc", "castagnoli", "-presence=false"}, &out); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := parseArgs([]string{"-config", writeConfig(t, out.String())})
	if err != nil {
		t.Fatalf("printed config does not load: %v\n%s", err, out.String())
	}
	if cfg.MaxConnections != 7 || cfg.CRC != wire.CRCCastagnoli || cfg.Presence {
		t.Fatalf("round trip lost values: %+v\n%s", cfg, out.String())
	}
}

func TestLoggerSettings(t *testing.T) {
	for _, c := range []config{{LogLevel: "loud", LogFormat: "text"}, {LogLevel: "info", LogFormat: "xml"}} {
		if _, err := c.logger(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	c := config{LogLevel: "debug", LogFormat: "json"}
	if _, err := c.logger(); err != nil {
		t.Fatal(err)
	}
}
