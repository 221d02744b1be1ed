package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/daemoneye/eventbus/transport"
	"github.com/daemoneye/eventbus/wire"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// link is one connection to the broker, from its handshake to its failure.
// Its reader, writer and pinger goroutines end when it fails; the client
// then moves on to the next link.
type link struct {
	conn    net.Conn
	rd      *wire.Reader
	welcome *pb.Welcome
	maxMsg  int // largest message the broker accepts on this link
	log     *slog.Logger

	// Set by install.
	epoch uint64 // the client's count of links, this one included
	up    time.Time

	// publishers caches decoded publisher identities by their encoding;
	// only the reader goroutine touches it.
	publishers map[string]cachedPublisher
	// lastPublisher is the previous delivery's, decoded from
	// lastPublisherRaw: a stream from one publisher skips the map.
	lastPublisher    Publisher
	lastPublisherRaw string
	// lastTopic and lastIDs are the previous delivery's, shared with the
	// next when equal; idScratch is reused to decode ids. Reader only.
	lastTopic string
	lastIDs   []uint32
	idScratch []uint32
	// msgBlock and payBlock are the blocks new messages are carved from.
	msgBlock []Message
	payBlock []byte

	wg    sync.WaitGroup // reader, writer, pinger
	done  chan struct{}  // closed by fail
	once  sync.Once
	cause error // why the link failed; read after done is closed
}

// fail ends the link once, recording why.
func (l *link) fail(cause error) {
	l.once.Do(func() {
		l.cause = cause
		l.conn.Close()
		close(l.done)
	})
}

// pingInterval is how often the client pings on l: its own setting, or the
// broker's request from the handshake, or 10s.
func (c *Client) pingInterval(l *link) time.Duration {
	if c.opts.PingInterval > 0 {
		return c.opts.PingInterval
	}
	if ms := l.welcome.GetPingIntervalMs(); ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return 10 * time.Second
}

// connect dials the broker and runs the handshake, within ConnectTimeout.
// A refusal is the broker's *BrokerError; any other failure wraps
// ErrNotConnected.
func (c *Client) connect(ctx context.Context) (*link, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.ConnectTimeout)
	defer cancel()
	conn, err := transport.Dial(ctx, c.opts.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotConnected, err)
	}
	l := &link{conn: conn, rd: wire.NewReader(conn, c.opts.Wire), done: make(chan struct{})}
	if err := c.handshake(ctx, l); err != nil {
		conn.Close()
		return nil, err
	}
	return l, nil
}

func (c *Client) handshake(ctx context.Context, l *link) error {
	deadline, _ := ctx.Deadline()
	stop := context.AfterFunc(ctx, func() { _ = l.conn.SetDeadline(time.Now()) })
	defer stop()
	_ = l.conn.SetDeadline(deadline)
	defer l.conn.SetDeadline(time.Time{})

	hello, err := c.crc.AppendEnvelope(nil, &pb.Envelope{Kind: &pb.Envelope_Hello{Hello: &pb.Hello{
		ClientName:      c.opts.Name,
		InstanceId:      c.opts.InstanceID,
		ProtocolVersion: wire.ProtocolVersion,
		SoftwareVersion: Version,
	}}})
	if err != nil {
		return err
	}
	_, werr := l.conn.Write(hello)
	// Even when the write failed, read: a broker that refuses the connection
	// (too many connections, shutting down) answers and closes without
	// reading the hello, and its reason is the useful error.
	msg, err := l.rd.ReadFrame()
	if err != nil {
		if werr != nil {
			return fmt.Errorf("%w: handshake: %w", ErrNotConnected, werr)
		}
		if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
			// The connection's deadline is ctx's, and may fire just before
			// ctx reports it.
			cause := ctx.Err()
			if cause == nil {
				cause = context.DeadlineExceeded
			}
			return fmt.Errorf("%w: handshake: no answer from the broker: %w", ErrNotConnected, cause)
		}
		return fmt.Errorf("%w: handshake: %w", ErrNotConnected, err)
	}
	env := new(pb.Envelope)
	if err := wire.DecodeEnvelope(msg, env); err != nil {
		return fmt.Errorf("%w: handshake: %w", ErrNotConnected, err)
	}
	switch k := env.Kind.(type) {
	case *pb.Envelope_Welcome:
		l.welcome = k.Welcome
	case *pb.Envelope_Error:
		return brokerError(k.Error)
	default:
		return fmt.Errorf("%w: handshake: broker sent %T instead of a welcome", ErrNotConnected, env.Kind)
	}
	l.maxMsg = c.opts.Wire.MaxFrameSize
	if l.maxMsg == 0 {
		l.maxMsg = wire.DefaultMaxFrameSize
	}
	if m := int(l.welcome.MaxFrameSize); m > 0 && m < l.maxMsg {
		l.maxMsg = m
	}
	l.log = c.log.With("session", l.welcome.SessionId)
	return nil
}

// refusedForGood reports whether a failed handshake is one that retrying
// cannot fix: the claim is refused, or the two ends do not speak the same
// protocol.
func refusedForGood(err error) bool {
	var be *BrokerError
	if errors.As(err, &be) && be.Code == pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED {
		return true
	}
	return endsClient(err)
}

// endsClient reports whether a connection that failed with err must not be
// replaced: an administrator disconnected the client, or the two ends do
// not speak the same protocol. Other failures, SHUTTING_DOWN and a broker
// gone included, are worth a reconnection; a NOT_AUTHORIZED that ends an
// established session (a policy reload, too many refused publishes) is too,
// since the handshake then says whether the claim still holds.
func endsClient(err error) bool {
	if errors.Is(err, wire.ErrCRCVariant) {
		return true
	}
	var be *BrokerError
	if !errors.As(err, &be) {
		return false
	}
	switch be.Code {
	case pb.ErrorCode_ERROR_CODE_DISCONNECTED,
		pb.ErrorCode_ERROR_CODE_PROTOCOL_VERSION,
		pb.ErrorCode_ERROR_CODE_BAD_HELLO,
		pb.ErrorCode_ERROR_CODE_CRC_VARIANT:
		return true
	}
	return false
}
