package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/daemoneye/eventbus/acl"
	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/presence"
	"github.com/daemoneye/eventbus/transport"
	"github.com/daemoneye/eventbus/wire"
)

// config is everything eventbusd can be told, from its TOML file and flags.
// Field names are the TOML keys; zero values mean the broker's defaults.
type config struct {
	Socket      string `toml:"socket"`
	SocketMode  string `toml:"socket_mode"`
	SocketGroup string `toml:"socket_group"`
	// PipeSDDL replaces the named pipe's default security descriptor on
	// Windows; empty keeps the default (the broker's user, SYSTEM,
	// Administrators).
	PipeSDDL string `toml:"pipe_sddl"`

	MaxFrameSize int      `toml:"max_frame_size"`
	CRC          wire.CRC `toml:"crc"`

	MaxConnections   int           `toml:"max_connections"`
	HandshakeTimeout time.Duration `toml:"handshake_timeout"`
	IdleTimeout      time.Duration `toml:"idle_timeout"`
	WriteTimeout     time.Duration `toml:"write_timeout"`
	MaxSubscriptions int           `toml:"max_subscriptions"`
	QueueMessages    int           `toml:"queue_messages"`
	QueueBytes       int           `toml:"queue_bytes"`
	// FlowControlMessages is the depth at which publishers pause for a
	// receiver; 0 derives it from QueueMessages (see parseArgs).
	FlowControlMessages int `toml:"flow_control_messages"`
	// SlowConsumerTimeout disconnects a receiver whose queue has been
	// dropping events for this long; negative never does.
	SlowConsumerTimeout time.Duration `toml:"slow_consumer_timeout"`
	// FlowControlWait bounds a publisher's pause for a receiver whose
	// queue is at its flow-control mark; negative never pauses.
	FlowControlWait time.Duration `toml:"flow_control_wait"`

	// Policy is the access policy file; empty means the built-in default.
	Policy               string        `toml:"policy"`
	MaxRefusedPublishes  int           `toml:"max_refused_publishes"`
	RefusedPublishWindow time.Duration `toml:"refused_publish_window"`
	MaxTopicLength       int           `toml:"max_topic_length"`

	// Presence runs the presence tracker in the broker's process, so that
	// collectors' heartbeats are tracked and `ebctl status` works.
	Presence            bool `toml:"presence"`
	PresenceMissedBeats int  `toml:"presence_missed_beats"`

	LogLevel  string `toml:"log_level"`
	LogFormat string `toml:"log_format"`

	// CPUProfile and MemProfile name files for a CPU profile of the run and
	// a heap profile at shutdown (go tool pprof).
	CPUProfile string `toml:"cpu_profile"`
	MemProfile string `toml:"mem_profile"`
}

func defaultConfig() config {
	d := broker.DefaultConfig()
	return config{
		Socket:               transport.DefaultEndpoint(),
		SocketMode:           "0600",
		MaxFrameSize:         d.Wire.MaxFrameSize,
		CRC:                  d.Wire.CRC,
		MaxConnections:       d.MaxConnections,
		HandshakeTimeout:     d.HandshakeTimeout,
		IdleTimeout:          d.IdleTimeout,
		WriteTimeout:         d.WriteTimeout,
		MaxSubscriptions:     d.MaxSubscriptions,
		QueueMessages:        d.QueueMessages,
		QueueBytes:           d.QueueBytes,
		SlowConsumerTimeout:  d.SlowConsumerTimeout,
		FlowControlWait:      d.FlowControlWait,
		MaxRefusedPublishes:  d.MaxRefusedPublishes,
		RefusedPublishWindow: d.RefusedPublishWindow,
		MaxTopicLength:       d.MaxTopicLength,
		Presence:             true,
		PresenceMissedBeats:  presence.DefaultMissedBeats,
		LogLevel:             "info",
		LogFormat:            "text",
	}
}

// loadFile overlays the TOML file at path onto c. Unknown keys are errors:
// a misspelt limit must not silently fall back to its default.
func (c *config) loadFile(path string) error {
	md, err := toml.DecodeFile(path, c)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			if perr.LastKey != "" {
				return fmt.Errorf("config %s: line %d: %s: %s", path, perr.Position.Line, perr.LastKey, perr.Message)
			}
			return fmt.Errorf("config %s: line %d: %s", path, perr.Position.Line, perr.Message)
		}
		return fmt.Errorf("config %s: %w", path, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		return fmt.Errorf("config %s: unknown keys: %s", path, strings.Join(keys, ", "))
	}
	return nil
}

// bindFlags defines a flag for every setting, writing into c.
func (c *config) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Socket, "socket", c.Socket, "socket `path` to listen on")
	fs.StringVar(&c.SocketMode, "socket-mode", c.SocketMode, "socket file permissions, octal (0600, or 0660 with -socket-group)")
	fs.StringVar(&c.SocketGroup, "socket-group", c.SocketGroup, "group `name or gid` given to the socket file")
	fs.StringVar(&c.PipeSDDL, "pipe-sddl", c.PipeSDDL, "Windows: security descriptor (`SDDL`) of the named pipe, replacing the default")
	fs.IntVar(&c.MaxFrameSize, "max-frame-size", c.MaxFrameSize, "largest message in bytes")
	fs.TextVar(&c.CRC, "crc", c.CRC, "frame checksum: ieee or castagnoli")
	fs.IntVar(&c.MaxConnections, "max-connections", c.MaxConnections, "concurrent sessions")
	fs.DurationVar(&c.HandshakeTimeout, "handshake-timeout", c.HandshakeTimeout, "time allowed for a client's hello")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "close a session silent this long")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", c.WriteTimeout, "close a session whose socket blocks this long")
	fs.IntVar(&c.MaxSubscriptions, "max-subscriptions", c.MaxSubscriptions, "subscriptions per session")
	fs.IntVar(&c.QueueMessages, "queue-messages", c.QueueMessages, "events queued per receiver before dropping")
	fs.IntVar(&c.QueueBytes, "queue-bytes", c.QueueBytes, "bytes queued per receiver before dropping")
	fs.IntVar(&c.FlowControlMessages, "flow-control-messages", c.FlowControlMessages,
		fmt.Sprintf("events queued for a receiver at which its publishers pause (0: %d, or half of -queue-messages when smaller)", broker.DefaultFlowControlMessages))
	fs.DurationVar(&c.SlowConsumerTimeout, "slow-consumer-timeout", c.SlowConsumerTimeout, "disconnect a receiver still dropping events after this long (negative: never)")
	fs.DurationVar(&c.FlowControlWait, "flow-control-wait", c.FlowControlWait, "longest a publisher pauses for a receiver at its flow-control mark, per read (negative: never; at most 1s)")
	fs.StringVar(&c.Policy, "policy", c.Policy, "access policy `file` (TOML); reloaded on SIGHUP (default: the built-in policy)")
	fs.IntVar(&c.MaxRefusedPublishes, "max-refused-publishes", c.MaxRefusedPublishes, "refused publishes within the window before a session is disconnected")
	fs.DurationVar(&c.RefusedPublishWindow, "refused-publish-window", c.RefusedPublishWindow, "window for -max-refused-publishes")
	fs.IntVar(&c.MaxTopicLength, "max-topic-length", c.MaxTopicLength, "longest topic or filter in bytes (at most 255)")
	fs.BoolVar(&c.Presence, "presence", c.Presence, "track collectors' heartbeats and answer presence requests (ebctl status)")
	fs.IntVar(&c.PresenceMissedBeats, "presence-missed-beats", c.PresenceMissedBeats, "heartbeats a collector may miss before it is lost")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.CPUProfile, "cpuprofile", c.CPUProfile, "write a CPU profile of the run to `file`")
	fs.StringVar(&c.MemProfile, "memprofile", c.MemProfile, "write a heap profile at shutdown to `file`")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
}

func (c *config) socketMode() (os.FileMode, error) {
	m, err := strconv.ParseUint(c.SocketMode, 8, 32)
	if err != nil || m&^0o777 != 0 {
		return 0, fmt.Errorf("socket mode %q: want octal permission bits such as 0600", c.SocketMode)
	}
	if m&0o007 != 0 {
		return 0, fmt.Errorf("socket mode %s would let every local user connect; use 0600, or 0660 with a socket group", c.SocketMode)
	}
	return os.FileMode(m), nil
}

// logger logs to stderr, which systemd's journal, launchd's
// StandardErrorPath or a terminal collects.
func (c *config) logger() (*slog.Logger, error) {
	h, err := c.logHandler(os.Stderr)
	if err != nil {
		return nil, err
	}
	return slog.New(h), nil
}

// logHandler formats records at the configured level and format into w.
func (c *config) logHandler(w io.Writer) (slog.Handler, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", c.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.LogFormat {
	case "text":
		return slog.NewTextHandler(w, opts), nil
	case "json":
		return slog.NewJSONHandler(w, opts), nil
	default:
		return nil, fmt.Errorf("log format %q: want text or json", c.LogFormat)
	}
}

// loadPolicy reads the policy file, or returns nil for the built-in default.
func (c *config) loadPolicy() (acl.Admitter, error) {
	if c.Policy == "" {
		return nil, nil
	}
	p, err := acl.LoadFile(c.Policy, uint32(os.Geteuid()))
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (c *config) brokerConfig(log *slog.Logger, policy acl.Admitter) broker.Config {
	return broker.Config{
		Policy:               policy,
		MaxRefusedPublishes:  c.MaxRefusedPublishes,
		RefusedPublishWindow: c.RefusedPublishWindow,
		MaxTopicLength:       c.MaxTopicLength,
		Wire:                 wire.Config{CRC: c.CRC, MaxFrameSize: c.MaxFrameSize},
		MaxConnections:       c.MaxConnections,
		HandshakeTimeout:     c.HandshakeTimeout,
		IdleTimeout:          c.IdleTimeout,
		WriteTimeout:         c.WriteTimeout,
		MaxSubscriptions:     c.MaxSubscriptions,
		QueueMessages:        c.QueueMessages,
		QueueBytes:           c.QueueBytes,
		FlowControlMessages:  c.FlowControlMessages,
		SlowConsumerTimeout:  c.SlowConsumerTimeout,
		FlowControlWait:      c.FlowControlWait,
		LocalName:            "eventbusd",
		Logger:               log,
	}
}

// presenceConfig is the presence tracker's configuration.
func (c *config) presenceConfig(log *slog.Logger) (presence.Config, error) {
	if c.PresenceMissedBeats < 1 {
		return presence.Config{}, fmt.Errorf("presence_missed_beats %d: want at least 1", c.PresenceMissedBeats)
	}
	return presence.Config{MissedBeats: c.PresenceMissedBeats, Logger: log}, nil
}
