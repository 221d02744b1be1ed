// Command procwatch is the process monitor for the event bus. It claims the
// procmond role, scans /proc every -interval and publishes each process start
// and exit as an eventbus.v1.ProcessEvent on events.process.lifecycle. It
// answers process_tree tasks on control.collector.task.process (in the
// queue group "procmond", so that several instances share them) on
// events.process.tree, answers diagnostics requests on
// control.health.diagnostics, and beats on control.health.heartbeat.
//
//	procwatch [-socket PATH] [-name procmond] [-interval 500ms] [-initial]
//	          [-max-processes 65536] [-heartbeat 1s] [-v]
//
// It logs to stderr and stops cleanly on SIGINT and SIGTERM. It reads the
// Linux /proc: on other platforms it exits at once with an error saying so.
// Package internal/procwatch documents what it publishes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/daemoneye/eventbus/internal/procwatch"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := procwatch.Main(ctx, os.Args[1:], os.Stderr)
	stop()
	if err == nil {
		return
	}
	if !errors.Is(err, flag.ErrHelp) {
		msg := err.Error()
		if !strings.HasPrefix(msg, "procwatch") {
			msg = "procwatch: " + msg
		}
		fmt.Fprintln(os.Stderr, msg)
	}
	if errors.Is(err, flag.ErrHelp) || errors.Is(err, procwatch.ErrUsage) {
		os.Exit(2)
	}
	os.Exit(1)
}
