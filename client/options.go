package client

import (
	"errors"
	"fmt"
	"log/slog"
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

	// ConnectTimeout bounds connecting plus the handshake when the context
	// given to Dial has no earlier deadline. Default 5s.
	ConnectTimeout time.Duration
	// ReplyTimeout bounds the wait for the broker's answer to Subscribe and
	// other requests without a context. Default 5s.
	ReplyTimeout time.Duration
	// WriteTimeout closes the connection when the broker accepts no bytes for
	// this long. Default 10s.
	WriteTimeout time.Duration
	// PingInterval overrides the interval the broker asks for in its
	// handshake; the client pings on its own so that an idle connection stays
	// up, and gives up on a broker silent for three intervals.
	PingInterval time.Duration

	// MaxPendingBytes bounds encoded frames waiting to be written. Publish
	// blocks, until its context ends, while the buffer is full. Default 8 MiB.
	MaxPendingBytes int
	// DeliveryQueue bounds messages read but not yet handled. Default 4096.
	DeliveryQueue int

	// OnError receives errors the broker reports asynchronously, such as a
	// refused Publish without confirmation. nil means they are logged.
	OnError func(error)
	// Logger receives the client's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultConnectTimeout  = 5 * time.Second
	DefaultReplyTimeout    = 5 * time.Second
	DefaultWriteTimeout    = 10 * time.Second
	DefaultMaxPendingBytes = 8 << 20
	DefaultDeliveryQueue   = 4096
)

// Version is this client library's version, sent in the handshake.
const Version = "0.1.0"

func (o Options) withDefaults() (Options, error) {
	if o.Name == "" {
		return o, errors.New("client: Options.Name is required")
	}
	if err := o.Wire.Validate(); err != nil {
		return o, err
	}
	if o.Endpoint == "" {
		o.Endpoint = transport.DefaultEndpoint()
	}
	if o.InstanceID == "" {
		host, _ := os.Hostname()
		o.InstanceID = fmt.Sprintf("%s-%d", sanitizeInstance(host), os.Getpid())
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.ReplyTimeout <= 0 {
		o.ReplyTimeout = DefaultReplyTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.MaxPendingBytes <= 0 {
		o.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if o.DeliveryQueue <= 0 {
		o.DeliveryQueue = DefaultDeliveryQueue
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
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
