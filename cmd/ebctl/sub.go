package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/daemoneye/eventbus/client"
	"github.com/daemoneye/eventbus/topic"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

func runSub(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet("sub", "FILTER...", env.stderr)
	var cf connFlags
	cf.bind(fs, operatorName)
	asJSON := fs.Bool("json", false, "print one JSON object per event")
	decode := fs.Bool("decode", false, "decode known payload types (process events, tasks, heartbeats, collector statuses, $SYS events) as JSON")
	group := fs.String("group", "", "subscribe as a member of this queue `group`: each event goes to one member")
	count := fs.Int("count", 0, "exit after this many events (0: run until interrupted)")
	duration := fs.Duration("duration", 0, "exit after this long (0: run until interrupted)")
	filters, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(filters) == 0 {
		fs.Usage()
		return fmt.Errorf("%w: sub needs at least one filter", errUsage)
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	// The broker ends a subscription that a reloaded policy no longer allows;
	// say so, and stop once none is left.
	revoked := make(chan error, len(filters))
	c, err := cf.dialLasting(ctx, env.stderr, func(err error) {
		fmt.Fprintln(env.stderr, "ebctl:", oneLine(err))
		var be *client.BrokerError
		if errors.As(err, &be) && be.Code == pb.ErrorCode_ERROR_CODE_NOT_AUTHORIZED && be.Topic != "" {
			select {
			case revoked <- err:
			default:
			}
		}
	})
	if err != nil {
		return err
	}
	defer c.Close()

	p := &printer{w: bufio.NewWriter(env.stdout), json: *asJSON, decode: *decode, limit: *count, done: make(chan struct{})}
	for _, f := range filters {
		if *group != "" {
			_, err = c.SubscribeGroup(f, *group, p.print)
		} else {
			_, err = c.Subscribe(f, p.print)
		}
		if err != nil {
			return err
		}
	}
	flush := time.NewTicker(100 * time.Millisecond)
	defer flush.Stop()
	for {
		select {
		case <-p.done:
			return p.flush()
		case <-ctx.Done():
			return p.flush()
		case <-c.Done():
			p.flush()
			return c.Err()
		case err := <-revoked:
			if len(c.Subscriptions()) == 0 {
				p.flush()
				return fmt.Errorf("no subscription left: %w", err)
			}
		case <-flush.C:
			if err := p.flush(); err != nil {
				return err
			}
		}
	}
}

// printer writes events; it is called as a client handler, one at a time.
type printer struct {
	mu     sync.Mutex
	w      *bufio.Writer
	json   bool
	decode bool
	limit  int
	n      int
	done   chan struct{}
	err    error
	// last is the message printed last. The client calls the handler once
	// per matching subscription, in a row, with the same *Message; ebctl
	// prints each event once.
	last *client.Message
}

func (p *printer) print(m *client.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m == p.last || p.limit > 0 && p.n >= p.limit {
		return
	}
	p.last = m
	if p.json {
		p.err = errors.Join(p.err, json.NewEncoder(p.w).Encode(jsonMessage(m, p.decode)))
	} else {
		fmt.Fprintf(p.w, "%s %s\n", m.Topic, textPayload(m.Topic, m.Payload, p.decode))
	}
	p.n++
	if p.limit > 0 && p.n == p.limit {
		close(p.done)
	}
}

func (p *printer) flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return errors.Join(p.err, p.w.Flush())
}

// textPayload shows a payload on one line: as is when it is printable
// UTF-8, decoded when asked and the topic's type is known, else Go-quoted.
func textPayload(name string, payload []byte, decode bool) string {
	if decode {
		if s, ok := decodePayload(name, payload); ok {
			return s
		}
	}
	if utf8.Valid(payload) && strings.IndexFunc(string(payload), notPrintable) < 0 {
		return string(payload)
	}
	return strconv.Quote(string(payload))
}

func notPrintable(r rune) bool { return !unicode.IsPrint(r) }

// sysSessionPrefix starts the topics of the broker's session events.
const sysSessionPrefix = topic.SysPrefix + ".session."

// decodePayload renders the payload types the protocol defines as JSON.
func decodePayload(name string, payload []byte) (string, bool) {
	var m proto.Message
	switch {
	case strings.HasPrefix(name, topic.EventsProcess+"."):
		m = &pb.ProcessEvent{}
	case strings.HasPrefix(name, topic.ControlCollectorTask+"."):
		m = &pb.CollectorTask{}
	case name == topic.ControlHealthHeartbeat:
		m = &pb.Heartbeat{}
	case name == topic.ControlHealthStatus:
		m = &pb.CollectorStatus{}
	case name == topic.ControlHealthPresence: // the answer to a presence request
		m = &pb.PresenceTable{}
	case strings.HasPrefix(name, sysSessionPrefix):
		m = &pb.SessionEvent{}
	case name == topic.SysBrokerStats:
		m = &pb.BrokerStats{}
	default:
		return "", false
	}
	if err := proto.Unmarshal(payload, m); err != nil {
		return "", false
	}
	b, err := protoJSON.Marshal(m)
	if err != nil {
		return "", false
	}
	// protojson output is not stable in whitespace; compact it for one line.
	return string(compactJSON(b)), true
}

// compactJSON removes insignificant whitespace from valid JSON b.
func compactJSON(b []byte) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}

type jsonEvent struct {
	Topic           string          `json:"topic"`
	Payload         *string         `json:"payload,omitempty"`
	PayloadBase64   string          `json:"payload_base64,omitempty"`
	Decoded         json.RawMessage `json:"decoded,omitempty"`
	Timestamp       time.Time       `json:"timestamp"`
	Publisher       jsonPublisher   `json:"publisher"`
	Correlation     json.RawMessage `json:"correlation,omitempty"`
	SubscriptionIDs []uint32        `json:"subscription_ids"`
	Dropped         uint64          `json:"dropped_before,omitempty"`
}

type jsonPublisher struct {
	Name     string `json:"name"`
	Instance string `json:"instance,omitempty"`
	Session  uint64 `json:"session"`
}

func jsonMessage(m *client.Message, decode bool) jsonEvent {
	ev := jsonEvent{
		Topic:           m.Topic,
		Timestamp:       m.Time.UTC(),
		Publisher:       jsonPublisher{Name: m.Publisher.ClientName, Instance: m.Publisher.InstanceID, Session: m.Publisher.SessionID},
		SubscriptionIDs: m.SubscriptionIDs,
		Dropped:         m.Dropped,
	}
	if utf8.Valid(m.Payload) {
		s := string(m.Payload)
		ev.Payload = &s
	} else {
		ev.PayloadBase64 = base64.StdEncoding.EncodeToString(m.Payload)
	}
	if decode {
		if s, ok := decodePayload(m.Topic, m.Payload); ok {
			ev.Decoded = json.RawMessage(s)
		}
	}
	if m.Correlation != nil {
		if b, err := protoJSON.Marshal(m.Correlation); err == nil {
			ev.Correlation = compactJSON(b)
		}
	}
	return ev
}

var protoJSON = protojson.MarshalOptions{UseProtoNames: true}
