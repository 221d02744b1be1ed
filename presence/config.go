package presence

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults for Config.
const (
	DefaultMissedBeats   = 3
	DefaultInterval      = 5 * time.Second
	DefaultMaxCollectors = 1024
	DefaultQueueSize     = 1024
)

// Limits on what a heartbeat may carry; longer names are refused and a
// longer status is cut. They match the broker's limits on client names and
// instance ids.
const (
	MaxCollectorLen = 64
	MaxInstanceLen  = 128
	MaxStatusLen    = 64
)

// Config configures a Tracker and a Service. Zero values mean the defaults.
// A Tracker uses the first three fields; a Service uses all of them.
type Config struct {
	// MissedBeats is how many beat intervals a collector may stay silent
	// before it is LOST. Default 3.
	MissedBeats int
	// DefaultInterval is the beat interval assumed for a heartbeat that
	// carries none. Default 5s.
	DefaultInterval time.Duration
	// MaxCollectors bounds the table, whose keys come from clients. When it
	// is full, a new collector takes the place of the one disconnected
	// longest ago; when none is disconnected, the new collector's beats are
	// ignored and counted. Default 1024.
	MaxCollectors int

	// TickInterval is how often the service looks for silent collectors;
	// a collector turns LOST at most this long after its deadline. Default
	// DefaultInterval / 2.
	TickInterval time.Duration
	// QueueSize bounds the events waiting for the service's goroutine;
	// events that find it full are dropped and counted. Default 1024.
	QueueSize int
	// Logger receives the service's logs; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config {
	return Config{}.withDefaults()
}

// Validate reports a negative setting. Zero values are valid: they mean
// the defaults.
func (c Config) Validate() error {
	var errs []error
	check := func(name string, bad bool) {
		if bad {
			errs = append(errs, fmt.Errorf("presence: %s must not be negative", name))
		}
	}
	check("MissedBeats", c.MissedBeats < 0)
	check("DefaultInterval", c.DefaultInterval < 0)
	check("MaxCollectors", c.MaxCollectors < 0)
	check("TickInterval", c.TickInterval < 0)
	check("QueueSize", c.QueueSize < 0)
	return errors.Join(errs...)
}

// withDefaults replaces zero and negative values with the defaults.
func (c Config) withDefaults() Config {
	if c.MissedBeats <= 0 {
		c.MissedBeats = DefaultMissedBeats
	}
	if c.DefaultInterval <= 0 {
		c.DefaultInterval = DefaultInterval
	}
	if c.MaxCollectors <= 0 {
		c.MaxCollectors = DefaultMaxCollectors
	}
	if c.TickInterval <= 0 {
		c.TickInterval = max(c.DefaultInterval/2, time.Millisecond)
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
