package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/daemoneye/eventbus/acl"
	"github.com/daemoneye/eventbus/topic"
	"github.com/daemoneye/eventbus/wire"
)

// Config holds the broker's limits and behaviour. The zero value of every
// field means its default; DefaultConfig spells the defaults out.
type Config struct {
	// Wire is the frame format every client must match: CRC variant and
	// maximum frame size.
	Wire wire.Config

	// MaxConnections bounds concurrent sessions. A further connection is
	// answered with an error frame and closed.
	MaxConnections int
	// HandshakeTimeout bounds the time from accept to a complete Hello.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a session that sends nothing, not even a ping, for
	// this long. Clients learn it in Welcome and ping at a third of it.
	IdleTimeout time.Duration
	// WriteTimeout bounds each write to a session's connection; a session
	// whose write does not complete in time ends with reason "write".
	WriteTimeout time.Duration

	// MaxSubscriptions bounds the subscriptions of one session.
	MaxSubscriptions int
	// QueueMessages and QueueBytes bound each receiver's outbound queue.
	// Events that do not fit are dropped for that receiver and counted.
	QueueMessages int
	QueueBytes    int
	// FlowControlMessages is the depth of a receiver's queue, in events,
	// at which the publishers feeding it pause (see FlowControlWait); the
	// bytes mark is half of QueueBytes. It is far below QueueMessages on
	// purpose: a receiver that keeps up runs with a short backlog, and
	// one that stalls longer than publishers wait for it still has the
	// rest of its queue before anything is dropped. The default is
	// DefaultFlowControlMessages, or half of QueueMessages when that is
	// smaller; it must not exceed QueueMessages.
	FlowControlMessages int
	// RouteCacheSize bounds the number of topics whose routes are cached;
	// negative disables the cache.
	RouteCacheSize int

	// LocalName is the client name the hosting program publishes under when
	// it uses Broker.Publish.
	LocalName string
	// Version is reported to clients in Welcome.
	Version string

	// Policy decides who may claim which client name and what each may
	// publish, subscribe to and administer. nil means the built-in default,
	// acl.Default, claimable by root and the broker's own user. Broker.
	// SetPolicy replaces it at run time.
	Policy acl.Admitter
	// MaxRefusedPublishes refused publishes within RefusedPublishWindow
	// get a session disconnected: a client that keeps publishing where it
	// may not is broken or hostile.
	MaxRefusedPublishes  int
	RefusedPublishWindow time.Duration
	// MaxTopicLength bounds topic names and filters, in bytes; at most
	// topic.MaxLength.
	MaxTopicLength int
	// FlowControlWait bounds how long a publishing session pauses, before
	// reading more input, for receivers it has just queued events to whose
	// queues are at their flow-control mark (FlowControlMessages events,
	// or half of QueueBytes): a receiver that keeps up is given
	// time to drain instead of having events dropped. A receiver that
	// takes nothing from its queue within the wait is not waited for again
	// until it takes something. Negative never pauses: events are dropped
	// as soon as a queue is full. At most MaxFlowControlWait.
	FlowControlWait time.Duration
	// SlowConsumerTimeout disconnects a receiver whose queue has been
	// dropping events for this long; negative never does.
	SlowConsumerTimeout time.Duration
	// StatsInterval is how often the broker publishes $SYS.broker.stats;
	// negative never.
	StatsInterval time.Duration
	// MaxTopicStats bounds the topics counted one by one in statistics;
	// the rest are summed under "*".
	MaxTopicStats int

	// Logger receives the broker's structured logs; nil means slog.Default().
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultMaxConnections   = 16
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultIdleTimeout      = 30 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultMaxSubscriptions = 1024
	DefaultQueueMessages    = 65536
	// DefaultFlowControlMessages is a backlog that a receiver drains in a
	// few milliseconds at full rate, and that stays in the cache.
	DefaultFlowControlMessages = 4096
	DefaultQueueBytes          = 16 << 20
	DefaultRouteCacheSize      = 4096
	DefaultLocalName           = "broker"
	DefaultMaxRefused          = 100
	DefaultSlowConsumer        = 30 * time.Second
	DefaultFlowControlWait     = 10 * time.Millisecond
	MaxFlowControlWait         = time.Second
	DefaultStatsInterval       = 10 * time.Second
	DefaultRefusedWindow       = 10 * time.Second
	DefaultVersion             = "0.1.0"
)

// queueLimits are the bounds of every receiver's queue.
func (c *Config) queueLimits() queueLimits {
	return queueLimits{maxMsgs: c.QueueMessages, maxBytes: c.QueueBytes, pauseMsgs: c.FlowControlMessages}
}

// DefaultConfig returns the configuration a zero Config stands for.
func DefaultConfig() Config {
	return Config{}.WithDefaults()
}

// WithDefaults returns c with every zero field set to its default; a
// default that depends on another field (FlowControlMessages) follows
// that field's value in c.
func (c Config) WithDefaults() Config {
	if c.Wire.MaxFrameSize == 0 {
		c.Wire.MaxFrameSize = wire.DefaultMaxFrameSize
	}
	setDefault(&c.MaxConnections, DefaultMaxConnections)
	setDefault(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	setDefault(&c.IdleTimeout, DefaultIdleTimeout)
	setDefault(&c.WriteTimeout, DefaultWriteTimeout)
	setDefault(&c.MaxSubscriptions, DefaultMaxSubscriptions)
	setDefault(&c.QueueMessages, DefaultQueueMessages)
	setDefault(&c.QueueBytes, DefaultQueueBytes)
	setDefault(&c.FlowControlMessages, max(1, min(DefaultFlowControlMessages, c.QueueMessages/2)))
	setDefault(&c.RouteCacheSize, DefaultRouteCacheSize)
	setDefault(&c.LocalName, DefaultLocalName)
	setDefault(&c.Version, DefaultVersion)
	setDefault(&c.MaxRefusedPublishes, DefaultMaxRefused)
	setDefault(&c.RefusedPublishWindow, DefaultRefusedWindow)
	setDefault(&c.MaxTopicLength, topic.MaxLength)
	setDefault(&c.SlowConsumerTimeout, DefaultSlowConsumer)
	setDefault(&c.FlowControlWait, DefaultFlowControlWait)
	setDefault(&c.StatsInterval, DefaultStatsInterval)
	setDefault(&c.MaxTopicStats, DefaultMaxTopicStats)
	if c.Policy == nil {
		c.Policy = defaultPolicy()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func setDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

// Validate reports settings that cannot work; zero values are fine.
func (c Config) Validate() error {
	var errs []error
	if err := c.Wire.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, v := range []struct {
		name string
		val  int64
	}{
		{"max connections", int64(c.MaxConnections)},
		{"handshake timeout", int64(c.HandshakeTimeout)},
		{"idle timeout", int64(c.IdleTimeout)},
		{"write timeout", int64(c.WriteTimeout)},
		{"max subscriptions", int64(c.MaxSubscriptions)},
		{"queue messages", int64(c.QueueMessages)},
		{"queue bytes", int64(c.QueueBytes)},
		{"flow control messages", int64(c.FlowControlMessages)},
		{"max refused publishes", int64(c.MaxRefusedPublishes)},
		{"refused publish window", int64(c.RefusedPublishWindow)},
		{"max topic length", int64(c.MaxTopicLength)},
	} {
		if v.val < 0 {
			errs = append(errs, fmt.Errorf("broker: %s must not be negative", v.name))
		}
	}
	if c.FlowControlWait > MaxFlowControlWait {
		errs = append(errs, fmt.Errorf("broker: flow control wait %v is above %v: one slow receiver would hold its publishers that long", c.FlowControlWait, MaxFlowControlWait))
	}
	if c.IdleTimeout != 0 && c.IdleTimeout < 300*time.Millisecond {
		errs = append(errs, fmt.Errorf("broker: idle timeout %v is below 300ms", c.IdleTimeout))
	}
	// Zero values stand for their defaults here too: a queue smaller than
	// one maximal frame drops every large event.
	d := c.WithDefaults()
	if d.QueueBytes < d.Wire.MaxFrameSize {
		errs = append(errs, fmt.Errorf("broker: queue bytes %d smaller than one maximal frame (%d)", d.QueueBytes, d.Wire.MaxFrameSize))
	}
	if d.QueueMessages >= 0 && d.FlowControlMessages > d.QueueMessages {
		errs = append(errs, fmt.Errorf("broker: flow control mark of %d events above the queue's %d: publishers would never pause before events drop (lower the mark, or leave it unset to follow the queue)", d.FlowControlMessages, d.QueueMessages))
	}
	if c.MaxTopicLength > topic.MaxLength {
		errs = append(errs, fmt.Errorf("broker: max topic length %d above the protocol's %d", c.MaxTopicLength, topic.MaxLength))
	}
	return errors.Join(errs...)
}

// defaultPolicy is acl.Default for root and the broker's own user.
func defaultPolicy() *acl.Policy {
	euid := uint32(os.Geteuid())
	if euid == 0 {
		return acl.Default(0)
	}
	return acl.Default(0, euid)
}
