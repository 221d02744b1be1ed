package client

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/daemoneye/eventbus/transport"
	"github.com/daemoneye/eventbus/wire"
)

// Options configure a Client. Only Name is required.
type Options struct {
	// Endpoint is the broker's socket path; empty means
	// transport.DefaultEndpoint().
	Endpoint string
	// Name is the role the client claims, such as "procmond". The broker
	// decides whether this process may claim it.
	Name string
	// InstanceID tells apart processes with the same Name; empty means
	// "<hostname>-<pid>".
	InstanceID string
	// Wire must match the broker's: CRC variant and maximum frame size.
	// The broker's maximum from the handshake wins when it is smaller.
	Wire wire.Config

	// ConnectTimeout bounds connecting plus the handshake, for Dial (when
	// its context has no earlier deadline) and for each reconnection
	// attempt. Default 5s.
	ConnectTimeout time.Duration
	// ReplyTimeout bounds the wait for the broker's answer to Subscribe and
	// other requests without a context, and Message.Respond's wait for
	// room in the outbound buffer. Default 5s.
	ReplyTimeout time.Duration
	// WriteTimeout closes the connection when the broker accepts no bytes for
	// this long. Default 10s.
	WriteTimeout time.Duration
	// PingInterval overrides the interval the broker asks for in its
	// handshake; the client pings on its own so that an idle connection stays
	// up, and gives up on a broker silent for three intervals.
	PingInterval time.Duration

	// MaxPendingBytes and MaxPendingMessages bound the outbound buffer:
	// encoded frames queued for the broker, including those being written
	// and those held while the client is reconnecting. A frame is accepted
	// when both bounds still hold with it, or when nothing is pending (so
	// a frame larger than MaxPendingBytes, but within the frame limit, is
	// never refused for good). Control frames (pings, pongs, subscription
	// changes) are few and small: they count, but are queued past the
	// bounds. Defaults 8 MiB and 65536.
	MaxPendingBytes    int
	MaxPendingMessages int
	// WhenFull says what Publish, PublishConfirmed, Request and the other
	// requests do when the outbound buffer is full: Block (the default)
	// or FailFast.
	WhenFull WhenFull
	// DeliveryQueue bounds messages read but not yet handled. They queue
	// in batches, one per read from the socket, of 1 to 128 messages, and
	// the queue holds DeliveryQueue/128 batches: 4096 messages when they
	// arrive in bursts, as few as 32 when they arrive one at a time.
	// Default 4096.
	DeliveryQueue int
	// ReuseMessages lets the client reuse the memory of delivered messages
	// once their handlers have returned, instead of leaving it to the
	// garbage collector: a delivered *Message, its Payload and its
	// SubscriptionIDs are then valid only until the handler returns, and a
	// handler that keeps any of them must Clone the message. It saves an
	// allocation per message, and the collection of it, on a busy
	// subscriber. Responses returned by Request are never reused.
	ReuseMessages bool

	// Reconnect configures reconnection after the connection is lost.
	Reconnect Reconnect

	// OnError receives errors the broker reports asynchronously, such as a
	// refused Publish without confirmation, a subscription the broker
	// revoked or refused to re-establish after a reconnection, or a
	// buffered frame too large for a new connection's limit. nil means
	// they are logged. It runs on one of the client's connection goroutines
	// (mostly the reader): it must return promptly and must not call Close.
	OnError func(error)
	// OnStateChange is called on every change of State, in order, from a
	// goroutine of the client and never while it holds a lock: first with
	// Connected once Dial has succeeded, then Reconnecting (with the
	// reason the connection was lost), Connected, ... and finally Closed
	// (with the reason the client ended: ErrClosed after Close). It must
	// return promptly and must not call Close.
	OnStateChange func(State, error)
	// Logger receives the client's logs; nil means slog.Default().
	Logger *slog.Logger
}

// WhenFull is what an operation does when the outbound buffer is full.
type WhenFull uint8

const (
	// Block waits until there is room or the operation's context ends,
	// then returns an error wrapping both ErrBufferFull and the context's
	// error.
	Block WhenFull = iota
	// FailFast returns an error wrapping ErrBufferFull at once.
	FailFast
)

func (w WhenFull) String() string {
	switch w {
	case Block:
		return "block"
	case FailFast:
		return "fail-fast"
	default:
		return fmt.Sprintf("WhenFull(%d)", uint8(w))
	}
}

// Reconnect configures what the client does when its connection to the
// broker fails after Dial succeeded. The zero value means: reconnect,
// waiting InitialDelay (100ms) before the first attempt and Multiplier (2)
// times longer before each next one, up to MaxDelay (5s), every wait
// spread at random by ±Jitter (20%) and never above MaxDelay.
type Reconnect struct {
	// Disabled makes the client end, as it did before reconnection
	// existed, when its connection fails: Done is closed and Err says why.
	Disabled bool
	// InitialDelay is the wait before the first attempt; 1ms to 1m.
	InitialDelay time.Duration
	// MaxDelay bounds every wait; InitialDelay to 10m. The sequence of
	// waits restarts from InitialDelay only after a connection stayed up
	// for MaxDelay, so a broker that accepts and drops connections at once
	// sees attempts at most every MaxDelay.
	MaxDelay time.Duration
	// Multiplier is the growth of the wait from one attempt to the next; 1
	// to 10.
	Multiplier float64
	// Jitter is the fraction, 0 to 1, by which each wait is spread at
	// random, so that clients that lost the broker together do not all come
	// back at once. Zero means the default 0.2; a negative value means no
	// jitter.
	Jitter float64
}

// Defaults.
const (
	DefaultConnectTimeout     = 5 * time.Second
	DefaultReplyTimeout       = 5 * time.Second
	DefaultWriteTimeout       = 10 * time.Second
	DefaultMaxPendingBytes    = 8 << 20
	DefaultMaxPendingMessages = 65536
	DefaultDeliveryQueue      = 4096

	DefaultReconnectInitialDelay = 100 * time.Millisecond
	DefaultReconnectMaxDelay     = 5 * time.Second
	DefaultReconnectMultiplier   = 2
	DefaultReconnectJitter       = 0.2
)

// Bounds of the Reconnect settings.
const (
	minReconnectDelay  = time.Millisecond
	maxInitialDelay    = time.Minute
	maxReconnectDelay  = 10 * time.Minute
	maxReconnectFactor = 10
)

// Version is this client library's version, sent in the handshake.
const Version = "0.2.0"

func (o Options) withDefaults() (Options, error) {
	if o.Name == "" {
		return o, errors.New("client: Options.Name is required")
	}
	if err := o.Wire.Validate(); err != nil {
		return o, err
	}
	if o.WhenFull != Block && o.WhenFull != FailFast {
		return o, fmt.Errorf("client: Options.WhenFull %v is neither Block nor FailFast", o.WhenFull)
	}
	r, err := o.Reconnect.withDefaults()
	if err != nil {
		return o, err
	}
	o.Reconnect = r
	if o.Endpoint == "" {
		o.Endpoint = transport.DefaultEndpoint()
	}
	if o.InstanceID == "" {
		host, _ := os.Hostname()
		o.InstanceID = fmt.Sprintf("%s-%d", sanitizeInstance(host), os.Getpid())
	}
	setDefault(&o.ConnectTimeout, DefaultConnectTimeout)
	setDefault(&o.ReplyTimeout, DefaultReplyTimeout)
	setDefault(&o.WriteTimeout, DefaultWriteTimeout)
	setDefault(&o.MaxPendingBytes, DefaultMaxPendingBytes)
	setDefault(&o.MaxPendingMessages, DefaultMaxPendingMessages)
	setDefault(&o.DeliveryQueue, DefaultDeliveryQueue)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

// setDefault replaces a zero or negative setting by its default.
func setDefault[T int | time.Duration](field *T, def T) {
	if *field <= 0 {
		*field = def
	}
}

// withDefaults fills in the defaults and checks the bounds. Afterwards
// Jitter is the fraction in force (0 for none).
func (r Reconnect) withDefaults() (Reconnect, error) {
	if r.InitialDelay == 0 {
		r.InitialDelay = DefaultReconnectInitialDelay
	}
	if r.MaxDelay == 0 {
		r.MaxDelay = max(DefaultReconnectMaxDelay, r.InitialDelay)
	}
	if r.Multiplier == 0 {
		r.Multiplier = DefaultReconnectMultiplier
	}
	switch {
	case r.Jitter == 0:
		r.Jitter = DefaultReconnectJitter
	case r.Jitter < 0:
		r.Jitter = 0
	}
	switch {
	case r.InitialDelay < minReconnectDelay || r.InitialDelay > maxInitialDelay:
		return r, fmt.Errorf("client: Options.Reconnect.InitialDelay %v is outside [%v, %v]", r.InitialDelay, minReconnectDelay, maxInitialDelay)
	case r.MaxDelay < r.InitialDelay || r.MaxDelay > maxReconnectDelay:
		return r, fmt.Errorf("client: Options.Reconnect.MaxDelay %v is outside [InitialDelay %v, %v]", r.MaxDelay, r.InitialDelay, maxReconnectDelay)
	case math.IsNaN(r.Multiplier) || r.Multiplier < 1 || r.Multiplier > maxReconnectFactor:
		return r, fmt.Errorf("client: Options.Reconnect.Multiplier %v is outside [1, %d]", r.Multiplier, maxReconnectFactor)
	case math.IsNaN(r.Jitter) || r.Jitter > 1:
		return r, fmt.Errorf("client: Options.Reconnect.Jitter %v is above 1", r.Jitter)
	}
	return r, nil
}

// backoff is the wait before reconnection attempt n (0 for the first):
// InitialDelay·Multiplierⁿ, capped at MaxDelay, spread by ±Jitter with u
// (uniform in [0, 1)), and capped at MaxDelay again. r must have been
// through withDefaults.
func (r Reconnect) backoff(n int, u float64) time.Duration {
	d := float64(r.InitialDelay) * math.Pow(r.Multiplier, float64(max(n, 0)))
	ceiling := float64(r.MaxDelay)
	d = min(d, ceiling) // also when the power overflowed to +Inf
	d *= 1 + r.Jitter*(2*u-1)
	return time.Duration(min(max(d, 0), ceiling))
}

// sanitizeInstance keeps a hostname within the broker's printable-ASCII
// rule for instance ids.
func sanitizeInstance(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x21 || c > 0x7e {
			b[i] = '_'
		}
	}
	if len(b) > 100 {
		b = b[:100]
	}
	if len(b) == 0 {
		return "host"
	}
	return string(b)
}
