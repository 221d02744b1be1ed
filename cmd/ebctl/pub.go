package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/daemoneye/eventbus/client"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// tagFlags collects repeated -tag key=value flags.
type tagFlags map[string]string

func (t tagFlags) String() string { return fmt.Sprint(map[string]string(t)) }

func (t tagFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("tag %q: want key=value", s)
	}
	t[k] = v
	return nil
}

// maxStdinLine bounds one line of "pub -" input; the broker's frame limit
// applies on top.
const maxStdinLine = 1 << 20

func runPub(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet("pub", "TOPIC [PAYLOAD | -]", env.stderr)
	var cf connFlags
	cf.bind(fs, operatorName)
	corrID := fs.String("correlation-id", "", "correlation id to attach")
	stage := fs.String("stage", "", "workflow stage to attach")
	tags := tagFlags{}
	fs.Var(tags, "tag", "`key=value` tag to attach (repeatable)")
	quiet := fs.Bool("q", false, "do not report how many receivers got each event")
	async := fs.Bool("async", false, "with -: publish each line without waiting for the broker's confirmation,\n"+
		"keeping lines in the client's buffer while disconnected; a final request confirms that the broker\n"+
		"has handled every line sent on the last connection")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		fs.Usage()
		return fmt.Errorf("%w: pub needs TOPIC and at most one PAYLOAD", errUsage)
	}
	var opts []client.PublishOption
	if *corrID != "" || *stage != "" || len(tags) > 0 {
		opts = append(opts, client.WithCorrelation(&pb.Correlation{CorrelationId: *corrID, WorkflowStage: *stage, Tags: tags}))
	}
	dial := cf.dial
	if len(pos) == 2 && pos[1] == "-" {
		dial = cf.dialLasting // a stream of events outlives a broker restart
	}
	c, err := dial(ctx, env.stderr, nil)
	if err != nil {
		return err
	}
	defer c.Close()

	name := pos[0]
	publish := func(payload []byte) error {
		if *async {
			return c.Publish(ctx, name, payload, opts...)
		}
		n, err := c.PublishConfirmed(ctx, name, payload, opts...)
		if err != nil {
			return err
		}
		if !*quiet {
			fmt.Fprintf(env.stderr, "published to %s: %d receiver(s)\n", name, n)
		}
		return nil
	}
	if len(pos) == 1 {
		return publish(nil)
	}
	if pos[1] != "-" {
		return publish([]byte(pos[1]))
	}
	// Lines are read on their own goroutine so that a session the broker
	// ends (a policy reload, an admin disconnect, a shutdown) is reported at
	// once, not when the next line happens to arrive.
	lines := make(chan []byte)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(env.stdin)
		sc.Buffer(make([]byte, 64<<10), maxStdinLine)
		for sc.Scan() {
			select {
			case lines <- bytes.Clone(sc.Bytes()):
			case <-c.Done():
				return
			}
		}
		readErr <- sc.Err()
	}()
	for {
		select {
		case line := <-lines:
			if err := publish(line); err != nil {
				return err
			}
		case err := <-readErr:
			if err != nil {
				return fmt.Errorf("reading stdin: %w", err)
			}
			if *async {
				// The broker handles a session's frames in order, so its
				// answer to this request follows every line before it.
				if _, err := c.ListSubscriptions(ctx, false); err != nil {
					return fmt.Errorf("confirming the last lines: %w", err)
				}
			}
			return nil
		case <-c.Done():
			return c.Err()
		case <-ctx.Done():
			return nil
		}
	}
}

func runSubs(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet("subs", "", env.stderr)
	var cf connFlags
	cf.bind(fs, adminName)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: subs takes no arguments", errUsage)
	}
	c, err := cf.dial(ctx, env.stderr, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	sessions, err := c.ListSubscriptions(ctx, true)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(env.stdout)
	fmt.Fprintf(w, "%-8s %-20s %-28s %-6s %s\n", "SESSION", "NAME", "INSTANCE", "SUB", "FILTER")
	for _, s := range sessions {
		if s.SessionId == c.SessionID() {
			continue // ebctl's own session has nothing to show
		}
		if len(s.Subscriptions) == 0 {
			fmt.Fprintf(w, "%-8d %-20s %-28s %-6s %s\n", s.SessionId, s.ClientName, s.InstanceId, "-", "-")
		}
		for _, sub := range s.Subscriptions {
			fmt.Fprintf(w, "%-8d %-20s %-28s %-6d %s\n", s.SessionId, s.ClientName, s.InstanceId, sub.SubscriptionId, sub.Filter)
		}
	}
	return w.Flush()
}

func runDisconnect(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet("disconnect", "SESSION_ID [REASON]", env.stderr)
	var cf connFlags
	cf.bind(fs, adminName)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		fs.Usage()
		return fmt.Errorf("%w: disconnect needs a session id and at most one reason", errUsage)
	}
	id, err := strconv.ParseUint(pos[0], 10, 64)
	if err != nil {
		return fmt.Errorf("%w: session id %q is not a number", errUsage, pos[0])
	}
	reason := "disconnected with ebctl"
	if len(pos) == 2 {
		reason = pos[1]
	}
	c, err := cf.dial(ctx, env.stderr, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.DisconnectSession(ctx, id, reason); err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "session %d disconnected\n", id)
	return nil
}
