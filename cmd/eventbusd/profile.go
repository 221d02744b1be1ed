package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
)

// profiles writes the CPU profile of the whole run and a heap profile at
// its end, when asked, for `go tool pprof`.
type profiles struct {
	cpu     *os.File
	memPath string
	log     *slog.Logger
}

func startProfiles(cpuPath, memPath string, log *slog.Logger) (*profiles, error) {
	p := &profiles{memPath: memPath, log: log}
	if cpuPath != "" {
		f, err := os.Create(cpuPath)
		if err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		p.cpu = f
		log.Info("writing a CPU profile", "file", cpuPath)
	}
	return p, nil
}

// stop finishes the profiles; errors are logged, since the broker has
// already done its work.
func (p *profiles) stop() {
	if p.cpu != nil {
		pprof.StopCPUProfile()
		if err := p.cpu.Close(); err != nil {
			p.log.Error("cpu profile", "err", err)
		}
	}
	if p.memPath == "" {
		return
	}
	f, err := os.Create(p.memPath)
	if err != nil {
		p.log.Error("heap profile", "err", err)
		return
	}
	defer f.Close()
	runtime.GC() // up-to-date statistics of live memory
	if err := pprof.WriteHeapProfile(f); err != nil {
		p.log.Error("heap profile", "err", err)
		return
	}
	p.log.Info("heap profile written", "file", p.memPath)
}
