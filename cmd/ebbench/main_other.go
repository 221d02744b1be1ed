//go:build !unix

package main

import (
	"fmt"
	"os"
	"runtime"
)

// The broker's Windows transport (named pipes) is not implemented, and the
// benchmark's baselines and process control use Unix sockets and process
// groups.
func main() {
	fmt.Fprintf(os.Stderr, "ebbench: not supported on %s: it needs Unix domain sockets and process groups\n", runtime.GOOS)
	os.Exit(2)
}
