package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/daemoneye/eventbus/client"
	"github.com/daemoneye/eventbus/wire"
)

// connFlags are the flags every command that talks to a broker takes.
type connFlags struct {
	socket  string
	name    string
	crc     wire.CRC
	timeout time.Duration
	verbose bool
}

// Client names ebctl claims by default: the operator's watch-only principal,
// and the agent for admin requests, which only the agent may make.
const (
	operatorName = "ebctl"
	adminName    = "daemoneye-agent"
)

func (f *connFlags) bind(fs *flag.FlagSet, defaultName string) {
	fs.StringVar(&f.socket, "socket", "", "broker endpoint (default: the platform default endpoint)")
	fs.StringVar(&f.name, "name", defaultName, "client name to claim; the broker's policy decides whether this user may")
	fs.TextVar(&f.crc, "crc", wire.CRCIEEE, "frame checksum: ieee or castagnoli (must match the broker)")
	fs.DurationVar(&f.timeout, "connect-timeout", 5*time.Second, "time allowed to connect and for each answer")
	fs.BoolVar(&f.verbose, "v", false, "log client diagnostics to stderr")
}

// dial connects for a one-shot command: a lost connection ends it with an
// error, since retrying would only hide the failure.
func (f *connFlags) dial(ctx context.Context, stderr io.Writer, onError func(error)) (*client.Client, error) {
	opts := f.options(stderr, onError)
	opts.Reconnect.Disabled = true
	return client.Dial(ctx, opts)
}

// dialLasting connects for a long-running command (sub, pub -, collectors):
// the client reconnects by itself, and every change is told on stderr so
// that the user knows events may be missing while it is away.
func (f *connFlags) dialLasting(ctx context.Context, stderr io.Writer, onError func(error)) (*client.Client, error) {
	opts := f.options(stderr, onError)
	lost := false // the client calls OnStateChange from one goroutine
	opts.OnStateChange = func(st client.State, err error) {
		switch {
		case st == client.Reconnecting && err != nil:
			lost = true
			fmt.Fprintf(stderr, "ebctl: connection lost (%s); reconnecting\n", oneLine(err))
		case st == client.Connected && lost:
			lost = false
			fmt.Fprintln(stderr, "ebctl: reconnected")
		}
	}
	return client.Dial(ctx, opts)
}

func (f *connFlags) options(stderr io.Writer, onError func(error)) client.Options {
	level := slog.LevelError + 1 // quiet: failures reach the user as errors
	if f.verbose {
		level = slog.LevelDebug
	}
	return client.Options{
		Endpoint:       f.socket,
		Name:           f.name,
		Wire:           wire.Config{CRC: f.crc},
		ConnectTimeout: f.timeout,
		ReplyTimeout:   f.timeout,
		OnError:        onError,
		Logger:         slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments, and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func newFlagSet(name, argsUsage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ebctl "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: ebctl %s [flags] %s\n\nflags:\n", name, argsUsage)
		fs.PrintDefaults()
	}
	return fs
}
