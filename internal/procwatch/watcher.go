package procwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/client"
	"github.com/daemoneye/eventbus/procfs"
	"github.com/daemoneye/eventbus/topic"
)

// ErrUnsupported is Run's error on platforms without a Linux /proc.
var ErrUnsupported = errors.New("procwatch reads /proc and runs on Linux only")

// Config configures Run. The zero value of a field means its default.
type Config struct {
	// Endpoint is the broker's socket; empty means the platform default.
	Endpoint string
	// Name is the client name to claim. Default "procmond".
	Name string
	// Group is the queue group for tasks, shared by every instance that
	// should split the tasks among them. Default "procmond".
	Group string
	// Interval is the time between scans of /proc. Default 500ms.
	Interval time.Duration
	// Initial publishes the processes found by the first scan as starts.
	Initial bool
	// MaxProcesses bounds the processes tracked. Default 65536.
	MaxProcesses int
	// Heartbeat is the time between heartbeats. Default 1s.
	Heartbeat time.Duration
	// Logger receives procwatch's and the client's logs; nil means
	// slog.Default().
	Logger *slog.Logger
	// Scanner reads the processes; nil means procfs.System().
	Scanner *procfs.Scanner
}

// Defaults.
const (
	DefaultName         = "procmond"
	DefaultGroup        = "procmond"
	DefaultInterval     = 500 * time.Millisecond
	DefaultMaxProcesses = 65536
	DefaultHeartbeat    = time.Second
)

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.MaxProcesses == 0 {
		c.MaxProcesses = DefaultMaxProcesses
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Interval < 0:
		return fmt.Errorf("procwatch: negative interval %v", c.Interval)
	case c.MaxProcesses < 0:
		return fmt.Errorf("procwatch: negative process bound %d", c.MaxProcesses)
	case c.Heartbeat < 0:
		return fmt.Errorf("procwatch: negative heartbeat interval %v", c.Heartbeat)
	}
	return nil
}

// Run watches processes and serves the bus until ctx ends, which is a clean
// stop and returns nil, or until the client gives up on the broker.
func Run(ctx context.Context, cfg Config) error {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	sc := cfg.Scanner
	if sc == nil {
		var err error
		if sc, err = procfs.System(); err != nil {
			if errors.Is(err, procfs.ErrUnsupported) {
				return ErrUnsupported
			}
			return fmt.Errorf("procwatch: %w", err)
		}
	}
	c, err := client.Dial(ctx, client.Options{Endpoint: cfg.Endpoint, Name: cfg.Name, Logger: cfg.Logger})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer c.Close()
	w := newWatcher(ctx, cfg, sc, c)
	return w.run(ctx)
}

// watcher is one running procwatch.
type watcher struct {
	ctx   context.Context // Run's: handlers publish under it
	cfg   Config
	log   *slog.Logger
	c     *client.Client
	src   source
	users *procfs.UserNames
	tr    *tracker // used by the scan loop only

	st stats
	// publishFailing is set while publishes fail, to log once per episode.
	publishFailing atomic.Bool
	scanFailing    bool // scan loop only
	capWarned      bool // scan loop only
}

// stats are read by heartbeats and diagnostics while the scan loop and the
// handlers update them.
type stats struct {
	started       time.Time
	tracked       atomic.Int64
	untracked     atomic.Int64
	published     atomic.Uint64
	publishFailed atomic.Uint64
	scans         atomic.Uint64
	lastScan      atomic.Int64           // nanoseconds
	lastScanError atomic.Pointer[string] // nil after a good scan
}

func newWatcher(ctx context.Context, cfg Config, sc *procfs.Scanner, c *client.Client) *watcher {
	w := &watcher{
		ctx: ctx,
		cfg: cfg,
		log: cfg.Logger.With("collector", cfg.Name),
		c:   c,
		src: sc,

		users: procfs.NewUserNames(0),
	}
	w.tr = newTracker(sc, w.users, cfg.MaxProcesses)
	w.st.started = time.Now()
	return w
}

func (w *watcher) run(ctx context.Context) error {
	if err := w.subscribe(); err != nil {
		return err
	}
	w.scan(ctx, w.cfg.Initial)
	stop := w.c.StartHeartbeat(w.cfg.Heartbeat, w.health)
	defer stop()
	w.log.Info("watching processes", "pid", os.Getpid(), "interval", w.cfg.Interval,
		"tracked", w.st.tracked.Load(), "max_processes", w.cfg.MaxProcesses)

	tick := time.NewTicker(w.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			w.log.Info("stopping", "events_published", w.st.published.Load())
			return nil
		case <-w.c.Done():
			return w.c.Err()
		case <-tick.C:
			w.scan(ctx, true)
		}
	}
}

// subscribe asks for tasks and diagnostics requests. A refusal by the
// broker's policy leaves procwatch running without them; any other failure
// ends it.
func (w *watcher) subscribe() error {
	if _, err := w.c.SubscribeGroup(topic.ControlCollectorTaskProcess, w.cfg.Group, w.onTask); err != nil {
		if !errors.Is(err, client.ErrRefused) {
			return err
		}
		w.log.Warn("running without tasks", "err", err)
	}
	if _, err := w.c.Subscribe(topic.ControlHealthDiagnostics, w.onDiagnostics); err != nil {
		if !errors.Is(err, client.ErrRefused) {
			return err
		}
		w.log.Warn("running without diagnostics", "err", err)
	}
	return nil
}

// scan reads /proc once and publishes the changes.
func (w *watcher) scan(ctx context.Context, report bool) {
	began := time.Now()
	res, err := w.tr.scan(began, report)
	w.st.lastScan.Store(int64(time.Since(began)))
	w.st.scans.Add(1)
	w.st.tracked.Store(int64(res.tracked))
	w.st.untracked.Store(int64(res.untracked))
	for _, ev := range res.events {
		w.publish(ctx, topic.EventsProcessLifecycle, ev)
	}
	switch {
	case err != nil:
		msg := err.Error()
		w.st.lastScanError.Store(&msg)
		if !w.scanFailing {
			w.log.Error("cannot read processes", "err", err)
		}
		w.scanFailing = true
	case w.scanFailing:
		w.st.lastScanError.Store(nil)
		w.scanFailing = false
		w.log.Info("reading processes again")
	}
	if res.untracked > 0 && !w.capWarned {
		w.log.Warn("process bound reached; new processes go unreported until others exit",
			"max_processes", w.cfg.MaxProcesses, "untracked", res.untracked)
	}
	w.capWarned = res.untracked > 0
	if res.skipped > 0 {
		w.log.Debug("processes skipped: unreadable stat", "count", res.skipped)
	}
}

// publish sends one event; failures are counted and logged once per
// episode, and the event is lost.
func (w *watcher) publish(ctx context.Context, name string, m proto.Message, opts ...client.PublishOption) bool {
	b, err := proto.Marshal(m)
	if err == nil {
		err = w.c.Publish(ctx, name, b, opts...)
	}
	if err != nil {
		w.st.publishFailed.Add(1)
		if ctx.Err() == nil && !w.publishFailing.Swap(true) {
			w.log.Warn("cannot publish; events are lost until the broker takes them again", "topic", name, "err", err)
		}
		return false
	}
	if w.publishFailing.Swap(false) {
		w.log.Info("publishing again", "lost", w.st.publishFailed.Load())
	}
	w.st.published.Add(1)
	return true
}

// health is the heartbeat's status and details.
func (w *watcher) health() (string, map[string]string) {
	status := "ok"
	d := map[string]string{
		"tracked":       strconv.FormatInt(w.st.tracked.Load(), 10),
		"published":     strconv.FormatUint(w.st.published.Load(), 10),
		"scans":         strconv.FormatUint(w.st.scans.Load(), 10),
		"scan_duration": time.Duration(w.st.lastScan.Load()).String(),
	}
	if n := w.st.untracked.Load(); n > 0 {
		status = "degraded"
		d["untracked"] = strconv.FormatInt(n, 10)
	}
	if n := w.st.publishFailed.Load(); n > 0 {
		d["publish_failures"] = strconv.FormatUint(n, 10)
	}
	if msg := w.st.lastScanError.Load(); msg != nil {
		status = "degraded"
		d["scan_error"] = *msg
	}
	return status, d
}
