//go:build unix

package transport

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// dirMode returns the mode for a socket's directory. A class that may write
// to the socket, and so connect, gets search permission on the directory
// and nothing more: it can reach the socket by name but can neither list
// nor create entries.
func dirMode(socket os.FileMode) os.FileMode {
	mode := os.FileMode(0o700)
	if socket&0o020 != 0 {
		mode |= 0o010
	}
	if socket&0o002 != 0 {
		mode |= 0o001
	}
	return mode
}

// lookupGroup resolves a group name or numeric gid. It returns -1, chown's
// "leave unchanged", for an empty name.
func lookupGroup(name string) (int, error) {
	if name == "" {
		return -1, nil
	}
	id := name
	if _, err := strconv.ParseUint(name, 10, 32); err != nil {
		g, err := user.LookupGroup(name)
		if err != nil {
			return 0, fmt.Errorf("transport: socket group %q: %w", name, err)
		}
		id = g.Gid
	}
	gid, err := strconv.ParseUint(id, 10, 32)
	// (gid_t)-1 is the kernel's "no change" value, not a group.
	if err != nil || gid == math.MaxUint32 {
		return 0, fmt.Errorf("transport: socket group %q: invalid gid %q", name, id)
	}
	// On 32-bit platforms this may wrap, which is harmless: the syscall
	// passes the same bits on as a gid_t.
	return int(gid), nil
}

func insecureDir(dir, why string) error {
	return &detailError{
		sentinel: ErrInsecureDirectory,
		msg:      fmt.Sprintf("transport: socket directory %s %s", dir, why),
	}
}

// prepareDir makes sure dir exists, belongs to the effective user and has
// mode want (and group gid when gid >= 0). It adjusts an existing directory
// only when the directory holds nothing except the names in own. Then the
// directory can only be this endpoint's: a broker running as root with a
// careless endpoint like /run/bus.sock must not chmod /run.
func prepareDir(dir string, want os.FileMode, gid int, own []string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("transport: creating parents of socket directory: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("transport: creating socket directory: %w", err)
	}
	// Lstat first, so that a symlink is reported as such rather than as
	// the open failing below.
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("transport: socket directory: %w", err)
	}
	if err := checkOwnedDir(dir, fi); err != nil {
		return err
	}
	// From here on the directory is used through a descriptor, so renaming
	// another directory into its place cannot redirect the chmod.
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("transport: socket directory: %w", err)
	}
	defer f.Close()
	opened, err := f.Stat()
	if err != nil {
		return fmt.Errorf("transport: socket directory: %w", err)
	}
	if !os.SameFile(fi, opened) {
		return insecureDir(dir, "was replaced while being checked")
	}
	perm, dirGID := opened.Mode().Perm(), opened.Sys().(*syscall.Stat_t).Gid
	if perm == want && (gid < 0 || int(dirGID) == gid) {
		return nil
	}
	names, err := f.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("transport: socket directory: %w", err)
	}
	if slices.ContainsFunc(names, func(n string) bool { return !slices.Contains(own, n) }) {
		if perm&^want != 0 {
			return insecureDir(dir, fmt.Sprintf(
				"has mode %04o, wider than %04o, and holds other files, so it is left alone; use a directory dedicated to the socket",
				perm, want))
		}
		return fmt.Errorf("transport: socket directory %s has mode %04o group %d but the socket settings need mode %04o group %d; "+
			"it holds other files, so it is left alone; use a directory dedicated to the socket",
			dir, perm, dirGID, want, gid)
	}
	// Group before mode: in between, the mode still in force applies to
	// the group that is about to be let in, not to the one leaving.
	if gid >= 0 {
		if err := f.Chown(-1, gid); err != nil {
			return fmt.Errorf("transport: socket directory group: %w", err)
		}
	}
	if err := f.Chmod(want); err != nil {
		return fmt.Errorf("transport: socket directory mode: %w", err)
	}
	return nil
}

func checkOwnedDir(dir string, fi os.FileInfo) error {
	if fi.Mode()&os.ModeSymlink != 0 {
		return insecureDir(dir, "is a symbolic link")
	}
	if !fi.IsDir() {
		return insecureDir(dir, "is not a directory")
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return insecureDir(dir, "has unknown ownership")
	}
	if euid := os.Geteuid(); int64(st.Uid) != int64(euid) {
		return insecureDir(dir, fmt.Sprintf("is owned by uid %d, not by this process's uid %d", st.Uid, euid))
	}
	return nil
}
