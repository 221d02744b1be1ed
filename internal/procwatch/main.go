package procwatch

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// ErrUsage marks a command line Main cannot use; the flag package has
// already said why.
var ErrUsage = errors.New("procwatch: usage")

// Main runs procwatch with command-line arguments, logging to stderr, until
// ctx ends. -h returns flag.ErrHelp.
func Main(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("procwatch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: procwatch [flags]\n\nWatches /proc and publishes process starts and exits on the event bus.\n\nflags:")
		fs.PrintDefaults()
	}
	var cfg Config
	fs.StringVar(&cfg.Endpoint, "socket", "", "broker endpoint (default: the platform default endpoint)")
	fs.StringVar(&cfg.Name, "name", DefaultName, "client name to claim")
	fs.DurationVar(&cfg.Interval, "interval", DefaultInterval, "time between scans of /proc")
	fs.BoolVar(&cfg.Initial, "initial", false, "publish the processes running at startup as starts")
	fs.IntVar(&cfg.MaxProcesses, "max-processes", DefaultMaxProcesses, "most processes tracked")
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", DefaultHeartbeat, "time between heartbeats")
	verbose := fs.Bool("v", false, "log debug details")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	if cfg.Interval <= 0 || cfg.Heartbeat <= 0 || cfg.MaxProcesses <= 0 {
		return fmt.Errorf("%w: -interval, -heartbeat and -max-processes must be positive", ErrUsage)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	return Run(ctx, cfg)
}
