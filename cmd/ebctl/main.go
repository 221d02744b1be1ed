// Command ebctl is the eventbus command-line client: it publishes,
// subscribes, sends requests, shows collectors' presence and the broker's
// statistics, and runs a self-contained demo.
//
//	ebctl sub [flags] FILTER...       print matching events, one per line (-group: as a queue group member)
//	ebctl pub [flags] TOPIC [PAYLOAD] publish PAYLOAD, or each stdin line with "-"
//	ebctl req [flags] TOPIC [PAYLOAD] send a request and print the reply
//	ebctl status [flags]              the collectors' presence table
//	ebctl stats [flags]               the broker's statistics (admin)
//	ebctl subs [flags]                list every session's subscriptions (admin)
//	ebctl disconnect [flags] ID       end a session (admin)
//	ebctl demo [flags]                broker, collectors and subscriber, for a few seconds
//
// Every command but demo takes -socket (the broker's endpoint) and -name (the
// client name to claim); demo runs a broker of its own in a temporary
// directory and takes only -duration and -rate. sub, pub and req claim
// "ebctl", the operator's principal, which may watch everything and publish
// nothing (so pub and req need a -name that may publish on the topic);
// status asks the agent's presence tracker, and stats, subs and disconnect
// are admin requests: they claim "daemoneye-agent". On failure ebctl prints one line to stderr, with the
// broker's reason for a refusal, and exits non-zero.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one ebctl subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cliEnv, args []string) error
	hidden  bool
}

// cliEnv is what commands print to; tests swap it.
type cliEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func commands() []command {
	return []command{
		{name: "sub", summary: "subscribe and print each event as TOPIC PAYLOAD", run: runSub},
		{name: "pub", summary: "publish an event (PAYLOAD, or one event per stdin line with -)", run: runPub},
		{name: "req", summary: "send a request and print the reply", run: runReq},
		{name: "status", summary: "show which collectors are alive, lost or disconnected", run: runStatus},
		{name: "stats", summary: "show the broker's statistics (admin)", run: runStats},
		{name: "subs", summary: "list subscriptions of every session (admin)", run: runSubs},
		{name: "disconnect", summary: "end a session (admin)", run: runDisconnect},
		{name: "demo", summary: "run a broker, two collector processes and a subscriber for a few seconds", run: runDemo},
		{name: "demo-collector", run: runDemoCollector, hidden: true},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := dispatch(ctx, &cliEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "ebctl:", oneLine(err))
		}
		os.Exit(exitCode(err))
	}
}

func dispatch(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.stderr)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	usage(env.stderr)
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ebctl COMMAND [flags] [args]\n\ncommands:")
	for _, c := range commands() {
		if !c.hidden {
			fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
		}
	}
	fmt.Fprintln(w, "\nRun 'ebctl COMMAND -h' for a command's flags.")
}

func exitCode(err error) int {
	if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

// oneLine keeps an error message to one line for the terminal.
func oneLine(err error) string {
	b := []byte(err.Error())
	for i, c := range b {
		if c == '\n' || c == '\r' {
			b[i] = ' '
		}
	}
	return string(b)
}
