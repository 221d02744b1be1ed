package benchfmt

import (
	"bufio"
	"os"
	"runtime"
	"strings"
)

// CurrentMachine describes this machine and Go runtime.
func CurrentMachine() Machine {
	return Machine{
		OS:       runtime.GOOS,
		Arch:     runtime.GOARCH,
		CPUs:     runtime.NumCPU(),
		CPUModel: cpuModel("/proc/cpuinfo"),
		Go:       runtime.Version(),
	}
}

// cpuModel returns the first "model name" (x86) or "Model" / "Hardware"
// (ARM) of a /proc/cpuinfo file, or "" when there is none.
func cpuModel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fallback := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch key {
		case "model name":
			return val
		case "Model", "Hardware":
			if fallback == "" {
				fallback = val
			}
		}
	}
	return fallback
}
