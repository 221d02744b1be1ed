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

// Example runs a broker in process on a temporary socket, then subscribes
// and publishes through it as two collectors would.
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

	ctx := context.Background()
	c, err := client.Dial(ctx, client.Options{Endpoint: endpoint, Name: "example"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	got := make(chan *client.Message, 1)
	if _, err := c.Subscribe("events.process.#", func(m *client.Message) { got <- m }); err != nil {
		log.Fatal(err)
	}
	if _, err := c.PublishConfirmed(ctx, "events.process.start", []byte("pid=4242")); err != nil {
		log.Fatal(err)
	}
	select {
	case m := <-got:
		fmt.Println(m.Topic, string(m.Payload))
	case <-time.After(5 * time.Second):
		fmt.Println("no message")
	}
	// Output: events.process.start pid=4242
}
