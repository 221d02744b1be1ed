package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/daemoneye/eventbus/wire"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// Client is a connection to the broker that reconnects by itself when the
// connection is lost. Its methods are safe for concurrent use.
type Client struct {
	opts Options
	log  *slog.Logger
	crc  wire.CRC
	out  *outbox

	// ctx is cancelled by Close and when the client ends; it stops
	// reconnection attempts and heartbeats.
	ctx    context.Context
	cancel context.CancelFunc

	deliveries chan *batch // of at most maxBatch messages
	// pending counts the batches queued for the dispatcher and not yet
	// handled; only they stop the reader from running handlers itself.
	pending atomic.Int64
	// handlers is held by whoever runs handlers, the dispatcher or a
	// reader, so that they never overlap.
	handlers sync.Mutex
	// inline guards inlineLink, the link whose reader is running handlers
	// (nil when none is), and tookOver, set when takeOver replaced that
	// reader.
	inline     sync.Mutex
	inlineLink *link
	tookOver   bool
	// watchdog calls takeOver when handlers run on the reader for longer
	// than inlineBudget.
	watchdog *time.Timer
	// free holds dispatched batches for reuse, with Options.ReuseMessages;
	// nil otherwise.
	free      chan *batch
	stateWake chan struct{} // capacity 1: events were queued
	done      chan struct{} // closed when the client has ended
	wg        sync.WaitGroup

	nextSubID     atomic.Uint32
	nextRequestID atomic.Uint64
	maxMsg        atomic.Int64               // frame limit of the latest link
	welcome       atomic.Pointer[pb.Welcome] // of the latest link

	mu      sync.Mutex // guards the fields below
	link    *link      // the connection in use; nil while there is none
	epoch   uint64     // number of links so far
	subs    map[uint32]*Subscription
	waiters map[waitKey]*waiter
	// resub holds the subscriptions the latest link re-established and the
	// broker has not answered yet; resubDone is closed when it empties.
	resub     map[uint32]struct{}
	resubDone chan struct{}
	state     State
	events    []stateEvent // changes not yet passed to OnStateChange
	err       error        // why the client ended; nil until then
	closing   bool         // Close was called
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
	// list, an ack, statistics, a response, or an error.
	waitRequest
)

// waiter is a caller waiting for an answer.
type waiter struct {
	ch chan answer // capacity 1; receives exactly one answer
	// written is set once the request's frame was written to a connection:
	// if that connection fails before the answer arrives, the outcome is
	// unknown.
	written bool
}

type answer struct {
	env *pb.Envelope
	err error
}

// Dial connects to the broker and completes the handshake. It fails when
// this first connection fails; after that the client reconnects by itself
// (see Options.Reconnect).
func Dial(ctx context.Context, opts Options) (*Client, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{
		opts:       opts,
		log:        opts.Logger.With("client", opts.Name, "endpoint", opts.Endpoint),
		crc:        opts.Wire.CRC,
		deliveries: make(chan *batch, max(1, opts.DeliveryQueue/maxBatch)),
		stateWake:  make(chan struct{}, 1),
		done:       make(chan struct{}),
		subs:       make(map[uint32]*Subscription),
		waiters:    make(map[waitKey]*waiter),
	}
	if opts.ReuseMessages {
		// Every batch in the queue, the one being dispatched and the one
		// being filled.
		c.free = make(chan *batch, cap(c.deliveries)+2)
	}
	c.watchdog = time.AfterFunc(inlineBudget, c.takeOver)
	c.watchdog.Stop()
	c.out = newOutbox(c)
	l, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if _, ok := c.install(l); !ok {
		return nil, ErrClosed // cannot happen: nobody else has seen c
	}
	// Before the supervisor starts, so that Connected is the first change
	// reported even if the connection fails at once.
	c.setState(Connected, nil)
	c.wg.Add(2)
	go c.dispatchLoop()
	go c.run(l)
	if opts.OnStateChange != nil {
		c.wg.Add(1)
		go c.notifyLoop()
	}
	return c, nil
}

// SessionID returns the id the broker gave the latest connection's session.
// It changes when the client reconnects.
func (c *Client) SessionID() uint64 { return c.welcome.Load().GetSessionId() }

// Welcome returns the broker's answer to the latest handshake: its version
// and the limits in force.
func (c *Client) Welcome() *pb.Welcome { return c.welcome.Load() }

// Done is closed when the client has ended, by Close or for a reason
// retrying cannot fix; Err then says why. A lost connection that the
// client replaces does not close it.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns nil while the client lives (connected or reconnecting),
// ErrClosed after Close, or an error wrapping ErrNotConnected and the cause
// once the client has ended for another reason.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close flushes what is queued for the broker (for at most the write
// timeout), closes the connection and waits for the client's goroutines.
// Messages read but not yet handled are discarded (a client that ends on
// its own, because the broker went away, still hands them to their
// handlers). While the client is
// reconnecting there is no connection to flush to: the buffered frames are
// discarded, their number logged, and callers waiting for their answers get
// ErrClosed. Close must not be called from a handler or a callback of the
// client (it would wait for itself).
func (c *Client) Close() error {
	c.mu.Lock()
	first := !c.closing
	c.closing = true
	l := c.link
	if c.err != nil && !errors.Is(c.err, ErrClosed) {
		// The client had ended before: from now on operations say it is
		// closed, still telling why it had ended.
		c.err = fmt.Errorf("%w (%w)", ErrClosed, c.err)
	}
	c.mu.Unlock()
	if first {
		c.cancel()
		c.out.stop()
		if l != nil {
			c.out.waitDrained(l.done)
			l.fail(ErrClosed)
		}
	}
	<-c.done
	c.wg.Wait()
	return nil
}

// stateErr is the error for an operation on a client that takes no more
// frames.
func (c *Client) stateErr() error {
	if err := c.Err(); err != nil {
		return err
	}
	return ErrClosed
}

// usableLocked returns why the client takes no more requests, or nil; c.mu
// must be held.
func (c *Client) usableLocked() error {
	switch {
	case c.err != nil:
		return c.err
	case c.closing:
		return ErrClosed
	}
	return nil
}

// await registers interest in an answer before the request is sent.
func (c *Client) await(key waitKey) (chan answer, error) {
	ch := make(chan answer, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.usableLocked(); err != nil {
		return nil, err
	}
	c.waiters[key] = &waiter{ch: ch}
	return ch, nil
}

func (c *Client) forget(key waitKey) {
	c.mu.Lock()
	delete(c.waiters, key)
	c.mu.Unlock()
}

// answer hands env to whoever waits for key; it reports whether anyone did.
func (c *Client) answer(key waitKey, env *pb.Envelope) bool {
	return c.settle(key, answer{env: env})
}

// settle hands a to whoever waits for key; it reports whether anyone did.
func (c *Client) settle(key waitKey, a answer) bool {
	c.mu.Lock()
	w, ok := c.waiters[key]
	delete(c.waiters, key)
	c.mu.Unlock()
	if ok {
		w.ch <- a
	}
	return ok
}

// markWritten notes that the frames awaited under keys were written.
func (c *Client) markWritten(keys []waitKey) {
	if len(keys) == 0 {
		return
	}
	c.mu.Lock()
	for _, k := range keys {
		if w := c.waiters[k]; w != nil {
			w.written = true
		}
	}
	c.mu.Unlock()
}

// wait waits for the answer on ch until ctx ends. When ctx ends first, a
// request still in the outbound buffer is withdrawn: it will not be sent.
func (c *Client) wait(ctx context.Context, key waitKey, ch chan answer) (*pb.Envelope, error) {
	c.takeOver()
	select {
	case a := <-ch:
		return a.env, a.err
	case <-ctx.Done():
		c.forget(key)
		if c.out.withdraw(key) {
			return nil, fmt.Errorf("%w: %w (it was still buffered and is withdrawn: not sent)", ErrNoReply, ctx.Err())
		}
		return nil, fmt.Errorf("%w: %w", ErrNoReply, ctx.Err())
	}
}

// request sends env and waits for the answer registered under key.
func (c *Client) request(ctx context.Context, key waitKey, env *pb.Envelope) (*pb.Envelope, error) {
	ch, err := c.await(key)
	if err != nil {
		return nil, err
	}
	if err := c.out.send(ctx, env, key); err != nil {
		c.forget(key)
		return nil, err
	}
	return c.wait(ctx, key, ch)
}

// report hands an asynchronous error to Options.OnError, or logs it.
func (c *Client) report(err error) {
	if c.opts.OnError != nil {
		c.opts.OnError(err)
		return
	}
	c.log.Warn("broker reported an error", "err", err)
}

// dropOversize reports buffered frames that a new connection's smaller
// frame limit makes impossible to send, to their waiters or OnError.
func (c *Client) dropOversize(recs []frameRec, limit int) {
	for _, r := range recs {
		err := fmt.Errorf("%w: a buffered frame of %d bytes exceeds the new connection's limit %d and was not sent",
			ErrFrameTooLarge, r.size-frameHeader, limit)
		if r.key == (waitKey{}) || !c.settle(r.key, answer{err: err}) {
			c.report(err)
		}
	}
}
