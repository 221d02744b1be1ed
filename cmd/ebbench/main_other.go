//go:build !unix

package main

import (
	"fmt"
	"os"
	"runtime"
)

// The broker has a Windows transport (named pipes), but the benchmark's
// baselines and process control use Unix sockets and process groups.
func main() {
	fmt.Fprintf(os.Stderr, "ebbench: not supported on %s: it needs Unix domain sockets and process groups\n", runtime.GOOS)
	os.Exit(2)
}
