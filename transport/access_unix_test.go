//go:build unix

package transport

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const nobody = 65534

// TestOtherUserCannotConnect connects from a real process running as
// another user. The endpoint lives in a directory that anyone can search,
// so that only the modes Listen sets decide the outcome. Each refusal is
// paired with a case where the same helper does get in, so a refusal cannot
// come from the helper failing for some other reason.
func TestOtherUserCannotConnect(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a helper process as uid 65534")
	}
	base, err := os.MkdirTemp("", "eventbus-access-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	requireSearchableByOthers(t, base)
	// The test binary sits in a build directory uid 65534 cannot enter.
	bin := filepath.Join(base, "transport.test")
	copyExecutable(t, mustExecutable(t), bin)

	for _, tc := range []struct {
		name     string
		cfg      *ListenConfig
		loosen   bool // make the directory searchable by all after Listen
		uid, gid uint32
		want     string
	}{
		{name: "default mode", uid: nobody, gid: nobody, want: errnoOutcome(syscall.EACCES)},
		{name: "socket mode alone", loosen: true, uid: nobody, gid: nobody, want: errnoOutcome(syscall.EACCES)},
		{name: "world mode", cfg: &ListenConfig{SocketMode: 0o666}, uid: nobody, gid: nobody, want: "ok"},
		{name: "group member", cfg: &ListenConfig{SocketMode: 0o660, Group: "65534"}, uid: nobody, gid: nobody, want: "ok"},
		{name: "not in group", cfg: &ListenConfig{SocketMode: 0o660, Group: "65534"}, uid: nobody, gid: nobody - 1,
			want: errnoOutcome(syscall.EACCES)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, err := os.MkdirTemp(base, "ep-")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			ep := filepath.Join(dir, "sock", "bus.sock")
			l, err := Listen(ep, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
			if tc.loosen {
				if err := os.Chmod(filepath.Dir(ep), 0o711); err != nil {
					t.Fatal(err)
				}
			}
			cmd := helperCommand(t, "dial", ep)
			cmd.Path, cmd.Args[0] = bin, bin
			cmd.Dir = base
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: tc.uid, Gid: tc.gid}}
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("helper as uid %d: %v", tc.uid, err)
			}
			if got := strings.TrimSpace(string(out)); got != tc.want {
				t.Errorf("uid %d gid %d dialling %s: %s, want %s", tc.uid, tc.gid, ep, got, tc.want)
			}
		})
	}
}

func errnoOutcome(errno syscall.Errno) string {
	return fmt.Sprintf("errno=%d", int(errno))
}

func requireSearchableByOthers(t *testing.T, dir string) {
	t.Helper()
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			t.Skipf("%s is not searchable by other users; set TMPDIR elsewhere", d)
		}
		if d == filepath.Dir(d) {
			return
		}
	}
}

func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
