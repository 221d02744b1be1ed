//go:build windows

package transport

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"
)

// pipeClientAccess is what Dial asks for: GENERIC_READ and FILE_WRITE_DATA.
// GENERIC_WRITE would include FILE_CREATE_PIPE_INSTANCE, which a client
// does not need and which the Group entry of the default descriptor
// withholds.
const pipeClientAccess = windows.GENERIC_READ | windows.FILE_WRITE_DATA

// Dial connects to the broker listening on the named pipe endpoint,
// \\.\pipe\<name>. It gives up when ctx is done; while every instance of
// the pipe is busy it retries every 10ms. Pipes on other hosts are refused.
//
// The client connects at the identification impersonation level: the
// broker may learn which user the client runs as (that is how it reads the
// client's SID), but cannot act as that user.
//
// When nobody is listening, the error says so and matches [fs.ErrNotExist]
// with errors.Is. When the pipe's security descriptor does not admit this
// user, it matches [fs.ErrPermission].
func Dial(ctx context.Context, endpoint string) (net.Conn, error) {
	path, err := parsePipeEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	c, err := winio.DialPipeAccessImpLevel(ctx, path, pipeClientAccess, winio.PipeImpLevelIdentification)
	if err != nil {
		return nil, dialError(path, err)
	}
	return newPipeConn(c, false)
}

func dialError(endpoint string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("transport: no broker is listening at %s: %w", endpoint, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("transport: not permitted to connect to %s (see the pipe's security descriptor): %w", endpoint, err)
	default:
		return fmt.Errorf("transport: dial %s: %w", endpoint, err)
	}
}
