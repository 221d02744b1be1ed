//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/daemoneye/eventbus/internal/benchfmt"
)

func main() {
	args := os.Args[1:]
	if isRole(args) {
		os.Exit(runRole(args))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second SIGINT ends ebbench at once; its children follow
	}()
	err := run(ctx, args, os.Stdout, os.Stderr)
	interrupted := ctx.Err() != nil
	stop()
	switch {
	case errors.Is(err, errUsage):
		os.Exit(2)
	case interrupted:
		fmt.Fprintln(os.Stderr, "ebbench: interrupted")
		os.Exit(130)
	case err != nil:
		fmt.Fprintln(os.Stderr, "ebbench:", err)
		os.Exit(1)
	}
}

// run runs the benchmark that args describe, writing results to stdout and
// progress to stderr. It returns when every child process has ended.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	if dir := opts.clientProfiles; dir != "" {
		// Made here: a child that cannot create its profile fails before
		// it is ready, which would hide the reason.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("-client-profiles: %w", err)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	b, err := newBench(opts, exe, stderr)
	if err != nil {
		return err
	}
	defer b.close()
	report, err := b.run(ctx)
	if report == nil {
		return err
	}
	var werr error
	if opts.json {
		werr = benchfmt.WriteJSON(stdout, report)
	} else {
		werr = benchfmt.WriteTable(stdout, report)
	}
	return errors.Join(err, werr)
}
