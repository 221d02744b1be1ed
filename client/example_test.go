package client_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/client"
	"github.com/daemoneye/eventbus/transport"
)

// Example runs a broker in process on a temporary socket, as the agent
// does, and connects a process collector to it: the collector publishes an
// event and the agent hands it a task. The broker's default policy lets the
// current user claim every built-in role.
func Example() {
	dir, err := os.MkdirTemp("", "eb-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	endpoint := filepath.Join(dir, "bus.sock")

	b, err := broker.New(broker.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := transport.Listen(endpoint, nil)
	if err != nil {
		log.Fatal(err)
	}
	go b.Serve(ln)
	defer b.Close()

	events := make(chan *broker.Message, 1)
	if _, err := b.Subscribe("events.process.#", func(m *broker.Message) { events <- m }); err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	procmond, err := client.Dial(ctx, client.Options{Endpoint: endpoint, Name: "procmond"})
	if err != nil {
		log.Fatal(err)
	}
	defer procmond.Close()
	tasks := make(chan *client.Message, 1)
	if _, err := procmond.Subscribe("control.collector.task.process", func(m *client.Message) { tasks <- m }); err != nil {
		log.Fatal(err)
	}
	if _, err := procmond.PublishConfirmed(ctx, "events.process.lifecycle", []byte("pid=4242 started")); err != nil {
		log.Fatal(err)
	}
	if _, err := b.Publish("control.collector.task.process", []byte("report the tree of pid 4242"), nil); err != nil {
		log.Fatal(err)
	}
	for range 2 {
		select {
		case m := <-events:
			fmt.Printf("agent got %s %q from %s\n", m.Topic, m.Payload, m.Publisher.ClientName)
		case m := <-tasks:
			fmt.Printf("procmond got %s %q\n", m.Topic, m.Payload)
		case <-time.After(5 * time.Second):
			fmt.Println("nothing arrived")
		}
	}
	// Unordered output:
	// agent got events.process.lifecycle "pid=4242 started" from procmond
	// procmond got control.collector.task.process "report the tree of pid 4242"
}
