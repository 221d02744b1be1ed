package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/daemoneye/eventbus/transport"
	"github.com/daemoneye/eventbus/wire"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// Client is a connection to the broker. Its methods are safe for concurrent
// use.
type Client struct {
	opts    Options
	log     *slog.Logger
	conn    net.Conn
	crc     wire.CRC
	welcome *pb.Welcome
	maxMsg  int // largest message the broker accepts
	out     *outbox

	deliveries chan *Message
	done       chan struct{} // closed when the connection has ended
	wg         sync.WaitGroup

	nextSubID     atomic.Uint32
	nextRequestID atomic.Uint64

	mu       sync.Mutex // guards the fields below
	subs     map[uint32]*Subscription
	waiters  map[waitKey]chan *pb.Envelope
	err      error // why the connection ended; nil while it is up
	closing  bool
	failOnce sync.Once
}

// waitKey names an answer a caller waits for.
type waitKey struct {
	kind waitKind
	id   uint64
}

type waitKind uint8

const (
	waitSubAck waitKind = iota + 1
	waitPubAck
	// waitRequest is any request answered by request_id: a subscription
	// list, an ack, or an error.
	waitRequest
)

// Dial connects to the broker and completes the handshake.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	conn, err := transport.Dial(ctx, opts.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotConnected, err)
	}
	c := &Client{
		opts:       opts,
		log:        opts.Logger.With("client", opts.Name, "endpoint", opts.Endpoint),
		conn:       conn,
		crc:        opts.Wire.CRC,
		deliveries: make(chan *Message, opts.DeliveryQueue),
		done:       make(chan struct{}),
		subs:       make(map[uint32]*Subscription),
		waiters:    make(map[waitKey]chan *pb.Envelope),
	}
	rd := wire.NewReader(conn, opts.Wire)
	if err := c.handshake(ctx, rd); err != nil {
		conn.Close()
		return nil, err
	}
	c.out = newOutbox(c, opts.MaxPendingBytes)
	c.wg.Add(4)
	go c.readLoop(rd)
	go c.out.writeLoop()
	go c.dispatchLoop()
	go c.pingLoop()
	return c, nil
}

func (c *Client) handshake(ctx context.Context, rd *wire.Reader) error {
	deadline, _ := ctx.Deadline()
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Now()) })
	defer stop()
	_ = c.conn.SetDeadline(deadline)
	defer c.conn.SetDeadline(time.Time{})

	hello, err := c.crc.AppendEnvelope(nil, &pb.Envelope{Kind: &pb.Envelope_Hello{Hello: &pb.Hello{
		ClientName:      c.opts.Name,
		InstanceId:      c.opts.InstanceID,
		ProtocolVersion: wire.ProtocolVersion,
		SoftwareVersion: Version,
	}}})
	if err != nil {
		return err
	}
	_, werr := c.conn.Write(hello)
	// Even when the write failed, read: a broker that refuses the connection
	// (too many connections, shutting down) answers and closes without
	// reading the hello, and its reason is the useful error.
	msg, err := rd.ReadFrame()
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
		c.welcome = k.Welcome
	case *pb.Envelope_Error:
		return brokerError(k.Error)
	default:
		return fmt.Errorf("%w: handshake: broker sent %T instead of a welcome", ErrNotConnected, env.Kind)
	}
	c.maxMsg = c.opts.Wire.MaxFrameSize
	if c.maxMsg == 0 {
		c.maxMsg = wire.DefaultMaxFrameSize
	}
	if m := int(c.welcome.MaxFrameSize); m > 0 && m < c.maxMsg {
		c.maxMsg = m
	}
	c.log = c.log.With("session", c.welcome.SessionId)
	return nil
}

// SessionID returns the id the broker gave this session.
func (c *Client) SessionID() uint64 { return c.welcome.SessionId }

// Welcome returns the broker's handshake answer: its version and the limits
// in force.
func (c *Client) Welcome() *pb.Welcome { return c.welcome }

// Done is closed when the connection has ended, by Close or by a failure;
// Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns nil while connected, ErrClosed after Close, or an error
// wrapping ErrNotConnected and the cause once the connection failed.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close flushes what is queued for the broker (for at most the write
// timeout), closes the connection and waits for the client's goroutines.
// Messages read but not yet handled are discarded.
func (c *Client) Close() error {
	c.mu.Lock()
	already := c.closing || c.err != nil
	c.closing = true
	if c.err != nil && !errors.Is(c.err, ErrClosed) {
		// The connection had failed before: from now on operations say the
		// client is closed, still telling why the connection had ended.
		c.err = fmt.Errorf("%w (%w)", ErrClosed, c.err)
	}
	c.mu.Unlock()
	if !already {
		c.out.flushAndStop()
	}
	c.fail(ErrClosed)
	c.wg.Wait()
	return nil
}

// fail ends the connection once, recording why, and wakes every waiter.
func (c *Client) fail(cause error) {
	c.failOnce.Do(func() {
		if !errors.Is(cause, ErrClosed) && !errors.Is(cause, ErrNotConnected) {
			cause = fmt.Errorf("%w: %w", ErrNotConnected, cause)
		}
		c.mu.Lock()
		if c.closing && !errors.Is(cause, ErrClosed) {
			cause = ErrClosed
		}
		c.err = cause
		waiters := c.waiters
		c.waiters = nil
		c.mu.Unlock()
		for _, ch := range waiters {
			close(ch)
		}
		c.conn.Close()
		close(c.done)
		if !errors.Is(cause, ErrClosed) {
			c.log.Warn("connection to the broker ended", "err", cause)
		}
	})
}

// await registers interest in an answer before the request is sent.
func (c *Client) await(key waitKey) (chan *pb.Envelope, error) {
	ch := make(chan *pb.Envelope, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	c.waiters[key] = ch
	return ch, nil
}

func (c *Client) forget(key waitKey) {
	c.mu.Lock()
	delete(c.waiters, key)
	c.mu.Unlock()
}

// answer hands env to whoever waits for key; it reports whether anyone did.
func (c *Client) answer(key waitKey, env *pb.Envelope) bool {
	c.mu.Lock()
	ch, ok := c.waiters[key]
	delete(c.waiters, key)
	c.mu.Unlock()
	if ok {
		ch <- env
	}
	return ok
}

// wait waits for the answer on ch until ctx ends or the connection does.
func (c *Client) wait(ctx context.Context, key waitKey, ch chan *pb.Envelope) (*pb.Envelope, error) {
	select {
	case env, ok := <-ch:
		if !ok {
			return nil, c.Err()
		}
		return env, nil
	case <-ctx.Done():
		c.forget(key)
		return nil, fmt.Errorf("%w: %w", ErrNoReply, ctx.Err())
	}
}

// request sends env and waits for the answer registered under key.
func (c *Client) request(ctx context.Context, key waitKey, env *pb.Envelope) (*pb.Envelope, error) {
	ch, err := c.await(key)
	if err != nil {
		return nil, err
	}
	if err := c.out.send(ctx, env); err != nil {
		c.forget(key)
		return nil, err
	}
	return c.wait(ctx, key, ch)
}

// ListSubscriptions asks the broker for this session's subscriptions, or with
// all set for every session's (a privileged request).
func (c *Client) ListSubscriptions(ctx context.Context, all bool) ([]*pb.SessionSubscriptions, error) {
	ctx, cancel := c.replyContext(ctx)
	defer cancel()
	id := c.nextRequestID.Add(1)
	env, err := c.request(ctx, waitKey{waitRequest, id}, &pb.Envelope{Kind: &pb.Envelope_ListSubscriptions{
		ListSubscriptions: &pb.ListSubscriptions{AllSessions: all, RequestId: id},
	}})
	if err != nil {
		return nil, err
	}
	if e := env.GetError(); e != nil {
		return nil, brokerError(e)
	}
	return env.GetSubscriptionList().GetSessions(), nil
}

// DisconnectSession asks the broker to end another session, telling it
// reason. It is an admin request: other principals get a *BrokerError.
func (c *Client) DisconnectSession(ctx context.Context, sessionID uint64, reason string) error {
	ctx, cancel := c.replyContext(ctx)
	defer cancel()
	id := c.nextRequestID.Add(1)
	env, err := c.request(ctx, waitKey{waitRequest, id}, &pb.Envelope{Kind: &pb.Envelope_DisconnectSession{
		DisconnectSession: &pb.DisconnectSession{RequestId: id, SessionId: sessionID, Reason: reason},
	}})
	if err != nil {
		return err
	}
	if e := env.GetError(); e != nil {
		return brokerError(e)
	}
	return nil
}
