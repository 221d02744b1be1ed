//go:build aix

package transport

import (
	"errors"
	"fmt"
	"os"
)

// flockNonBlocking fails on AIX, where x/sys offers no flock. fcntl locks
// would not exclude a second listener in the same process, so they are no
// substitute.
func flockNonBlocking(*os.File) error {
	return fmt.Errorf("transport: endpoint locking is not implemented on aix: %w", errors.ErrUnsupported)
}
