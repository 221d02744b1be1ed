// Command eventbusd runs the eventbus broker on a local socket.
//
// With no arguments it listens on the default endpoint with the built-in
// defaults. Settings come from an optional TOML file (-config) and flags,
// flags winning. SIGINT and SIGTERM shut it down cleanly and remove its
// socket. See docs/operations.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "eventbusd:", err)
		os.Exit(1)
	}
}

// run runs the daemon until ctx ends (SIGINT or SIGTERM in main).
func run(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, printConfig, err := parseArgs(args)
	if err != nil {
		return err
	}
	if printConfig {
		return toml.NewEncoder(stdout).Encode(cfg)
	}
	log, err := cfg.logger()
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
	policy, err := cfg.loadPolicy()
	if err != nil {
		return err
	}
	presenceCfg, err := cfg.presenceConfig(log)
	if err != nil {
		return err
	}
	b, err := broker.New(cfg.brokerConfig(log, policy))
	if err != nil {
		return err
	}
	policySource := "built-in default"
	if cfg.Policy != "" {
		policySource = cfg.Policy
	}
	ln, err := transport.Listen(cfg.Socket, &transport.ListenConfig{SocketMode: mode, Group: cfg.SocketGroup})
	if err != nil {
		return err
	}
	log.Info("eventbusd listening", "socket", cfg.Socket, "pid", os.Getpid(), "crc", cfg.CRC,
		"max_connections", cfg.MaxConnections, "policy", policySource, "presence", cfg.Presence)

	served := make(chan error, 1)
	go func() { served <- b.Serve(ln) }()
	stopPresence := func() {}
	if cfg.Presence {
		stopPresence = startPresence(ctx, log, b, presenceCfg)
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
			reloadPolicy(log, b, cfg)
		case <-ctx.Done():
			break wait
		}
	}
	log.Info("shutting down")
	stopPresence()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err = b.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, broker.ErrClosed) {
		log.Warn("listener ended with an error", "err", serr)
	}
	st := b.Stats()
	log.Info("stopped", "published", st.Published, "routed", st.Routed, "dropped", st.Dropped, "sessions_total", st.Accepted)
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

// reloadPolicy re-reads the policy file on SIGHUP. An invalid file leaves
// the policy in force unchanged.
func reloadPolicy(log *slog.Logger, b *broker.Broker, cfg config) {
	if cfg.Policy == "" {
		log.Info("SIGHUP: no policy file configured; the built-in policy stays in force")
		return
	}
	p, err := cfg.loadPolicy()
	if err != nil {
		log.Error("SIGHUP: policy not reloaded; the previous one stays in force", "err", err)
		return
	}
	r := b.SetPolicy(p)
	log.Info("SIGHUP: policy reloaded", "file", cfg.Policy, "sessions", r.Sessions,
		"disconnected", r.Disconnected, "subscriptions_revoked", r.Revoked)
}

// parseArgs builds the configuration: defaults, then the file, then the
// flags that were given.
func parseArgs(args []string) (config, bool, error) {
	fs := flag.NewFlagSet("eventbusd", flag.ContinueOnError)
	configPath := fs.String("config", "", "TOML configuration `file`")
	printConfig := fs.Bool("print-config", false, "print the effective configuration as TOML and exit")
	flagCfg := defaultConfig()
	flagCfg.bindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return config{}, false, err
	}
	if fs.NArg() > 0 {
		return config{}, false, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	cfg := defaultConfig()
	if *configPath != "" {
		if err := cfg.loadFile(*configPath); err != nil {
			return config{}, false, err
		}
	}
	// Re-apply only the flags that were set, over the file's values.
	overlay := flag.NewFlagSet("overlay", flag.ContinueOnError)
	cfg.bindFlags(overlay)
	var err error
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "config" || f.Name == "print-config" || err != nil {
			return
		}
		err = overlay.Set(f.Name, f.Value.String())
	})
	return cfg, *printConfig, err
}
