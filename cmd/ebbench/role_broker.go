//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/daemoneye/eventbus/broker"
	"github.com/daemoneye/eventbus/client"
	"github.com/daemoneye/eventbus/transport"
	"github.com/daemoneye/eventbus/wire"
)

// brokerGrace bounds the broker's clean shutdown.
const brokerGrace = 5 * time.Second

// benchMaxConnections is the started broker's connection limit: room for
// the largest scenario and a few observers (ebctl stats).
const benchMaxConnections = 64

// runBroker serves a broker on cfg.socket with the default policy until
// its stdin ends (when the bench manages it), SIGINT or SIGTERM. With
// -cpuprofile and -memprofile it writes those profiles as it stops.
func runBroker(ctx context.Context, cfg roleConfig, cio *childIO) (res *roleResult, err error) {
	stopProfiles, err := startProfiles(cfg)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, stopProfiles()) }()
	b, err := broker.New(broker.Config{
		Wire:           wire.Config{CRC: cfg.crc},
		MaxConnections: benchMaxConnections,
		QueueMessages:  cfg.queueMessages,
		QueueBytes:     cfg.queueBytes,
		LocalName:      "ebbench",
		Version:        client.Version,
		Logger:         childLogger(cfg),
	})
	if err != nil {
		return nil, err
	}
	ln, err := transport.Listen(cfg.socket, nil)
	if err != nil {
		return nil, err
	}
	served := make(chan error, 1)
	go func() { served <- b.Serve(ln) }()
	if !cfg.managed {
		fmt.Fprintf(os.Stderr, "ebbench: broker listening on %s (pid %d); SIGINT or SIGTERM stops it\n", cfg.socket, os.Getpid())
	}
	cio.send(message{Event: evReady})
	select {
	case err := <-served:
		return nil, fmt.Errorf("serve: %w", err)
	case <-cio.endCh:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), brokerGrace)
	defer cancel()
	if err := b.Shutdown(sctx); err != nil {
		childLogger(cfg).Warn("shutdown", "err", err)
	}
	<-served
	st := b.Stats()
	return &roleResult{Broker: &brokerStats{Published: st.Published, Routed: st.Routed, Dropped: st.Dropped,
		FlowWaits: st.FlowControlWaits, FlowGiveUps: st.FlowControlGiveUps}}, nil
}

// startProfiles starts the CPU profile, if asked for, and returns the
// function that stops it and writes the heap profile.
func startProfiles(cfg roleConfig) (stop func() error, err error) {
	var cpu *os.File
	if cfg.cpuProfile != "" {
		if cpu, err = os.Create(cfg.cpuProfile); err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, err
		}
	}
	return func() error {
		var errs []error
		if cpu != nil {
			pprof.StopCPUProfile()
			errs = append(errs, cpu.Close())
		}
		if cfg.memProfile != "" {
			errs = append(errs, writeHeapProfile(cfg.memProfile))
		}
		return errors.Join(errs...)
	}, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC() // up-to-date statistics
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
