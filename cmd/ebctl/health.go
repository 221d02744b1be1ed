package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/client"
	"github.com/daemoneye/eventbus/topic"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// errNoTracker is what status says when nothing answers presence requests.
var errNoTracker = errors.New("no presence tracker is running: nothing answers on " + topic.ControlHealthPresence +
	" (eventbusd runs one unless -presence=false; an agent embedding the broker runs presence.Run)")

func runStatus(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet("status", "", env.stderr)
	var cf connFlags
	cf.bind(fs, adminName)
	asJSON := fs.Bool("json", false, "print the presence table as JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: status takes no arguments", errUsage)
	}
	c, err := cf.dial(ctx, env.stderr, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	rctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	m, err := c.Request(rctx, topic.ControlHealthPresence, nil)
	if errors.Is(err, client.ErrNoResponders) {
		return errNoTracker
	}
	if err != nil {
		return err
	}
	table := &pb.PresenceTable{}
	if err := proto.Unmarshal(m.Payload, table); err != nil {
		return fmt.Errorf("the presence tracker (%s) answered with something that is not a presence table: %w", m.Publisher.ClientName, err)
	}
	if *asJSON {
		return printProtoJSON(env.stdout, table)
	}
	return printPresence(env.stdout, table.Collectors, time.Now())
}

func printPresence(w io.Writer, collectors []*pb.CollectorStatus, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COLLECTOR\tINSTANCE\tSTATE\tLAST-SEEN\tBEATS\tSTATUS\tREASON")
	for _, s := range collectors {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", s.Collector, orDash(s.InstanceId), stateName(s.State),
			ago(now, s.LastSeenUnixNano), s.Beats, orDash(s.Status), s.Reason)
	}
	return tw.Flush()
}

// stateName is a collector state for people: alive, lost, disconnected.
func stateName(s pb.CollectorStatus_State) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "STATE_"))
}

func runStats(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet("stats", "", env.stderr)
	var cf connFlags
	cf.bind(fs, adminName)
	asJSON := fs.Bool("json", false, "print the broker's StatsReply as JSON")
	topics := fs.Int("topics", 10, "how many of the busiest topics to list")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: stats takes no arguments", errUsage)
	}
	c, err := cf.dial(ctx, env.stderr, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := c.Stats(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return printProtoJSON(env.stdout, st)
	}
	return printStats(env.stdout, st, c.SessionID(), *topics)
}

// printStats prints the broker's totals, every session but self, and the
// busiest topics.
func printStats(w io.Writer, st *pb.StatsReply, self uint64, topics int) error {
	b := st.Broker
	at := time.Unix(0, b.GetAtUnixNano())
	fmt.Fprintf(w, "broker: up %s; sessions: %d now, %d accepted in all; subscriptions: %d\n",
		duration(at.Sub(time.Unix(0, b.GetStartedUnixNano()))), b.GetSessions(), b.GetAccepted(), b.GetSubscriptions())
	fmt.Fprintf(w, "events: %d published, %d delivered, %d dropped\n", b.GetPublished(), b.GetRouted(), b.GetDropped())
	var limits []string
	for name, n := range b.GetLimits() {
		if n > 0 {
			limits = append(limits, fmt.Sprintf("%s %d", name, n))
		}
	}
	slices.Sort(limits)
	if len(limits) > 0 {
		fmt.Fprintf(w, "limits hit: %s\n", strings.Join(limits, ", "))
	}

	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tINSTANCE\tUID\tPID\tPUB\tDELIVERED\tDROPPED\tIN\tOUT\tQUEUED\tSUBS")
	for _, s := range st.Sessions {
		if s.SessionId == self {
			continue // ebctl's own session has nothing to show
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%d\t%d\n", s.SessionId, s.ClientName, orDash(s.InstanceId),
			s.Uid, s.Pid, s.Published, s.Delivered, s.Dropped, bytesSize(s.BytesIn), bytesSize(s.BytesOut),
			s.QueuedMessages, s.Subscriptions)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	busiest := slices.Clone(st.Topics)
	slices.SortFunc(busiest, func(a, b *pb.TopicStats) int {
		if a.Published != b.Published {
			return compareDesc(a.Published, b.Published)
		}
		return strings.Compare(a.Topic, b.Topic)
	})
	if len(busiest) > topics {
		busiest = busiest[:max(topics, 0)]
	}
	if len(busiest) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPUBLISHED\tDELIVERED")
	for _, t := range busiest {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", t.Topic, t.Published, t.Delivered)
	}
	return tw.Flush()
}

func compareDesc(a, b uint64) int {
	if a > b {
		return -1
	}
	return 1
}

func runReq(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet("req", "TOPIC [PAYLOAD]", env.stderr)
	var cf connFlags
	cf.bind(fs, operatorName)
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for a reply")
	decode := fs.Bool("decode", false, "decode a known reply type (such as a presence table) as JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		fs.Usage()
		return fmt.Errorf("%w: req needs TOPIC and at most one PAYLOAD", errUsage)
	}
	if *timeout <= 0 {
		return fmt.Errorf("%w: -timeout must be positive", errUsage)
	}
	name := pos[0]
	var payload []byte
	if len(pos) == 2 {
		payload = []byte(pos[1])
	}
	c, err := cf.dial(ctx, env.stderr, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	rctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	m, err := c.Request(rctx, name, payload)
	var be *client.BrokerError
	switch {
	case errors.Is(err, client.ErrNoResponders):
		return fmt.Errorf("no responders on %s: nothing subscribes to it", name)
	case errors.Is(err, client.ErrNoReply) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no reply on %s within %v", name, *timeout)
	case errors.As(err, &be) && be.Code == pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED:
		return fmt.Errorf("%w (claim a role that may publish there with -name)", err)
	case err != nil:
		return err
	}
	_, err = fmt.Fprintln(env.stdout, textPayload(name, m.Payload, *decode))
	return err
}

// ago says how long before now a Unix time in nanoseconds was, or "-" for
// never.
func ago(now time.Time, unixNano int64) string {
	if unixNano == 0 {
		return "-"
	}
	d := now.Sub(time.Unix(0, unixNano))
	if d < time.Second {
		return "just now"
	}
	return duration(d) + " ago"
}

// duration is d rounded for people: 42s, 3m05s, 2h10m, 3d04h.
func duration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		return fmt.Sprintf("%dd%02dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	}
}

// bytesSize is n in bytes for people: 512B, 1.5K, 12.0M.
func bytesSize(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	v, suffix := float64(n)/unit, "KMGTPE"
	i := 0
	for v >= unit && i < len(suffix)-1 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f%c", v, suffix[i])
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printProtoJSON prints m as one line of JSON with the .proto field names.
func printProtoJSON(w io.Writer, m proto.Message) error {
	b, err := protoJSON.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", compactJSON(b))
	return err
}
