// Command eventbusd runs the eventbus broker on a local socket.
//
// With no arguments it listens on the default endpoint with the built-in
// defaults. Settings come from an optional TOML file (-config) and flags,
// flags winning. SIGINT and SIGTERM shut it down cleanly and remove its
// socket; SIGHUP reloads the access policy.
//
// On Windows, `eventbusd service install [flags]` registers it as a
// Windows service and `eventbusd service uninstall` removes it. Started by
// the service control manager, it logs to the Application event log, and
// the SCM's Stop and Shutdown requests shut it down as SIGTERM does. See
// docs/operations.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/presence"
	"github.com/daemoneye/eventbus/transport"
)

// shutdownGrace bounds how long a clean shutdown waits for queues to drain.
const shutdownGrace = 5 * time.Second

func main() {
	if len(os.Args) > 1 && os.Args[1] == "service" {
		exitOn(serviceCommand(os.Args[2:], os.Stdout))
		return
	}
	handled, err := runAsService(os.Args[1:])
	if handled || err != nil {
		exitOn(err)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, os.Args[1:], os.Stdout)
	stop()
	exitOn(err)
}

func exitOn(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "eventbusd:", err)
		os.Exit(1)
	}
}

// supervisor is what run needs from whatever started it. The zero value
// suits a terminal, systemd, launchd and rc.d: logs go to stderr and SIGHUP
// reloads the policy. The Windows service sets all three fields.
type supervisor struct {
	// logger replaces the stderr logger.
	logger func(config) (*slog.Logger, error)
	// listening is called once the endpoint accepts clients.
	listening func()
	// reload asks for a policy reload, as SIGHUP does.
	reload <-chan struct{}
}

// run runs the daemon until ctx ends (SIGINT or SIGTERM in main).
func run(ctx context.Context, args []string, stdout io.Writer) error {
	return runSupervised(ctx, args, stdout, supervisor{})
}

func runSupervised(ctx context.Context, args []string, stdout io.Writer, sup supervisor) error {
	cfg, printConfig, err := parseArgs(args)
	if err != nil {
		return err
	}
	if printConfig {
		return toml.NewEncoder(stdout).Encode(cfg)
	}
	newLogger := sup.logger
	if newLogger == nil {
		newLogger = func(c config) (*slog.Logger, error) { return c.logger() }
	}
	log, err := newLogger(cfg)
	if err != nil {
		return err
	}
	prof, err := startProfiles(cfg.CPUProfile, cfg.MemProfile, log)
	if err != nil {
		return err
	}
	defer prof.stop()
	mode, err := cfg.socketMode()
	if err != nil {
		return err
	}
	d, err := newDaemon(cfg, log)
	if err != nil {
		return err
	}
	ln, err := transport.Listen(cfg.Socket, &transport.ListenConfig{SocketMode: mode, Group: cfg.SocketGroup, SDDL: cfg.PipeSDDL})
	if err != nil {
		return err
	}
	policySource := "built-in default"
	if cfg.Policy != "" {
		policySource = cfg.Policy
	}
	log.Info("eventbusd listening", "socket", cfg.Socket, "pid", os.Getpid(), "crc", cfg.CRC,
		"max_connections", cfg.MaxConnections, "policy", policySource, "presence", cfg.Presence)
	if sup.listening != nil {
		sup.listening()
	}
	return d.serve(ctx, ln, sup.reload)
}

// daemon is a configured broker that is not serving yet.
type daemon struct {
	cfg      config
	log      *slog.Logger
	b        *broker.Broker
	presence presence.Config
}

func newDaemon(cfg config, log *slog.Logger) (*daemon, error) {
	policy, err := cfg.loadPolicy()
	if err != nil {
		return nil, err
	}
	presenceCfg, err := cfg.presenceConfig(log)
	if err != nil {
		return nil, err
	}
	b, err := broker.New(cfg.brokerConfig(log, policy))
	if err != nil {
		return nil, err
	}
	return &daemon{cfg: cfg, log: log, b: b, presence: presenceCfg}, nil
}

// serve runs the broker on ln until ctx ends, reloading the policy on
// SIGHUP and on reload, then shuts it down cleanly.
func (d *daemon) serve(ctx context.Context, ln net.Listener, reload <-chan struct{}) error {
	served := make(chan error, 1)
	go func() { served <- d.b.Serve(ln) }()
	stopPresence := func() {}
	if d.cfg.Presence {
		stopPresence = startPresence(ctx, d.log, d.b, d.presence)
		defer stopPresence()
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
wait:
	for {
		select {
		case err := <-served:
			return fmt.Errorf("serve: %w", err)
		case <-hup:
			reloadPolicy(d.log, d.b, d.cfg, "SIGHUP")
		case <-reload:
			reloadPolicy(d.log, d.b, d.cfg, "reload request")
		case <-ctx.Done():
			break wait
		}
	}
	d.log.Info("shutting down")
	stopPresence()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err := d.b.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, broker.ErrClosed) {
		d.log.Warn("listener ended with an error", "err", serr)
	}
	st := d.b.Stats()
	d.log.Info("stopped", "published", st.Published, "routed", st.Routed, "dropped", st.Dropped, "sessions_total", st.Accepted)
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// startPresence runs the presence tracker on the broker's in-process
// session, which the broker trusts with every topic, and returns a function
// that stops it and waits for it; calling it again does nothing.
func startPresence(ctx context.Context, log *slog.Logger, b *broker.Broker, cfg presence.Config) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := presence.Run(ctx, presence.OnBroker(b), cfg); err != nil {
			log.Error("presence tracker stopped", "err", err)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// reloadPolicy re-reads the policy file on SIGHUP or another reload
// request (cause). An invalid file leaves the policy in force unchanged.
func reloadPolicy(log *slog.Logger, b *broker.Broker, cfg config, cause string) {
	if cfg.Policy == "" {
		log.Info(cause + ": no policy file configured; the built-in policy stays in force")
		return
	}
	p, err := cfg.loadPolicy()
	if err != nil {
		log.Error(cause+": policy not reloaded; the previous one stays in force", "err", err)
		return
	}
	r := b.SetPolicy(p)
	log.Info(cause+": policy reloaded", "file", cfg.Policy, "sessions", r.Sessions,
		"disconnected", r.Disconnected, "subscriptions_revoked", r.Revoked)
}

// parseArgs builds the configuration: defaults, then the file, then the
// flags that were given.
func parseArgs(args []string) (config, bool, error) {
	fs, err := parseFlags(args)
	if err != nil {
		return config{}, false, err
	}
	configPath := fs.Lookup("config").Value.String()
	printConfig := fs.Lookup("print-config").Value.(flag.Getter).Get().(bool)
	cfg := defaultConfig()
	if configPath != "" {
		if err := cfg.loadFile(configPath); err != nil {
			return config{}, false, err
		}
	}
	// Re-apply only the flags that were set, over the file's values.
	overlay := flag.NewFlagSet("overlay", flag.ContinueOnError)
	cfg.bindFlags(overlay)
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "config" || f.Name == "print-config" || err != nil {
			return
		}
		err = overlay.Set(f.Name, f.Value.String())
	})
	// The mark's default follows the queue's size as finally set, and
	// -print-config shows the value in effect.
	if cfg.QueueMessages >= 0 { // a negative queue is refused as such
		cfg.FlowControlMessages = broker.Config{
			QueueMessages: cfg.QueueMessages, FlowControlMessages: cfg.FlowControlMessages,
		}.WithDefaults().FlowControlMessages
	}
	return cfg, printConfig, err
}

// parseFlags parses eventbusd's command line: -config, -print-config and
// one flag per setting. Positional arguments are an error.
func parseFlags(args []string) (*flag.FlagSet, error) {
	fs := flag.NewFlagSet("eventbusd", flag.ContinueOnError)
	fs.String("config", "", "TOML configuration `file`")
	fs.Bool("print-config", false, "print the effective configuration as TOML and exit")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: eventbusd [flags]\n"+
			"       eventbusd service install [flags] | uninstall    (Windows only)\n\nflags:\n")
		fs.PrintDefaults()
	}
	flagCfg := defaultConfig()
	flagCfg.bindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return fs, nil
}
