package procfs

import (
	"errors"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// fakeProc is a proc tree in a temporary directory.
type fakeProc struct {
	t    *testing.T
	root string
}

const fakeBoot = 1700000000

func newFakeProc(t *testing.T) *fakeProc {
	t.Helper()
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "stat"), "cpu  1 2 3\nbtime "+strconv.Itoa(fakeBoot)+"\nprocesses 9\n")
	// Entries a walk must ignore.
	for _, d := range []string{"self", "net", "sys", "0"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(root, "uptime"), "1.0 1.0\n")
	return &fakeProc{t: t, root: root}
}

// add creates a process directory with the files a Scanner reads; an empty
// exe makes no link, as for a kernel thread.
func (p *fakeProc) add(pid int, comm string, ppid int, start uint64, cmdline, exe string, uid int) {
	p.t.Helper()
	dir := filepath.Join(p.root, strconv.Itoa(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	writeFile(p.t, filepath.Join(dir, "stat"), statLine(pid, comm, ppid, start))
	writeFile(p.t, filepath.Join(dir, "cmdline"), cmdline)
	u := strconv.Itoa(uid)
	writeFile(p.t, filepath.Join(dir, "status"), "Name:\t"+comm+"\nUid:\t"+u+"\t"+u+"\t"+u+"\t"+u+"\n")
	if exe != "" {
		if err := os.Symlink(exe, filepath.Join(dir, "exe")); err != nil {
			p.t.Fatal(err)
		}
	}
}

func (p *fakeProc) remove(pid int) {
	p.t.Helper()
	if err := os.RemoveAll(filepath.Join(p.root, strconv.Itoa(pid))); err != nil {
		p.t.Fatal(err)
	}
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func walkAll(t *testing.T, s *Scanner) ([]Stat, int) {
	t.Helper()
	var out []Stat
	skipped, err := s.Walk(func(st Stat) bool { out = append(out, st); return true })
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(out, func(a, b Stat) int { return int(a.PID) - int(b.PID) })
	return out, skipped
}

func TestScannerFakeTree(t *testing.T) {
	p := newFakeProc(t)
	p.add(1, "init", 0, 1, "/sbin/init\x00splash\x00", "/usr/lib/systemd/systemd", 0)
	p.add(2, "kthreadd", 0, 1, "", "", 0)
	p.add(300, "Web Content", 1, 250, "/usr/lib/firefox/firefox\x00-contentproc\x00", "/usr/lib/firefox/firefox", 1000)
	p.add(301, "x) (y", 300, 260, "x\x00", "/tmp/x (deleted)", 1000)

	s, err := NewScanner(p.root, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, skipped := walkAll(t, s)
	want := []Stat{
		{PID: 1, PPID: 0, Comm: "init", State: 'S', StartTicks: 1},
		{PID: 2, PPID: 0, Comm: "kthreadd", State: 'S', StartTicks: 1},
		{PID: 300, PPID: 1, Comm: "Web Content", State: 'S', StartTicks: 250},
		{PID: 301, PPID: 300, Comm: "x) (y", State: 'S', StartTicks: 260},
	}
	if !slices.Equal(got, want) || skipped != 0 {
		t.Fatalf("walk: got %+v (skipped %d), want %+v", got, skipped, want)
	}

	d := s.Details(300)
	if d.Cmdline != "/usr/lib/firefox/firefox -contentproc" || d.Exe != "/usr/lib/firefox/firefox" ||
		!d.HasUIDs || d.UIDs.Effective != 1000 {
		t.Fatalf("details of 300: %+v", d)
	}
	if d := s.Details(2); d != (Details{UIDs: UIDs{}, HasUIDs: true}) {
		t.Fatalf("details of a kernel thread: %+v", d)
	}
	if d := s.Details(999); d != (Details{}) {
		t.Fatalf("details of a missing process: %+v", d)
	}
	if _, err := s.Stat(999); !Vanished(err) {
		t.Fatalf("stat of a missing process: %v, want a vanished error", err)
	}
	if got, want := s.StartTime(250), time.Unix(fakeBoot+2, int64(500*time.Millisecond)); !got.Equal(want) {
		t.Fatalf("StartTime(250) = %v, want %v", got, want)
	}

	// A process exits, another appears.
	p.remove(301)
	p.add(302, "sh", 1, 270, "sh\x00", "/bin/sh", 0)
	got, _ = walkAll(t, s)
	var pids []uint32
	for _, st := range got {
		pids = append(pids, st.PID)
	}
	if !slices.Equal(pids, []uint32{1, 2, 300, 302}) {
		t.Fatalf("after changes: pids %v", pids)
	}
}

func TestScannerSkipsBrokenAndStops(t *testing.T) {
	p := newFakeProc(t)
	p.add(10, "a", 1, 5, "a\x00", "", 0)
	p.add(11, "b", 1, 5, "b\x00", "", 0)
	writeFile(t, filepath.Join(p.root, "11", "stat"), "garbage")
	if err := os.Mkdir(filepath.Join(p.root, "12"), 0o755); err != nil { // vanished: no stat
		t.Fatal(err)
	}
	p.add(13, "c", 1, 5, "c\x00", "", 0)
	writeFile(t, filepath.Join(p.root, "13", "stat"), statLine(14, "c", 1, 5)) // names another pid
	s, err := NewScanner(p.root, 100)
	if err != nil {
		t.Fatal(err)
	}
	got, skipped := walkAll(t, s)
	if len(got) != 1 || got[0].PID != 10 || skipped != 2 {
		t.Fatalf("got %+v, skipped %d; want pid 10 only and 2 skipped", got, skipped)
	}

	p.add(20, "d", 1, 5, "", "", 0)
	n := 0
	if _, err := s.Walk(func(Stat) bool { n++; return false }); err != nil || n != 1 {
		t.Fatalf("walk stopped after %d calls, %v", n, err)
	}
}

func TestNewScannerErrors(t *testing.T) {
	if _, err := NewScanner(filepath.Join(t.TempDir(), "none"), 0); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing root: %v", err)
	}
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "stat"), "cpu 1\n")
	if _, err := NewScanner(root, 0); !errors.Is(err, ErrMalformed) {
		t.Fatalf("no btime: %v", err)
	}
}

func TestUserNames(t *testing.T) {
	lookups := 0
	u := newUserNames(2, func(id string) (*user.User, error) {
		lookups++
		if id == "0" {
			return &user.User{Uid: "0", Username: "root"}, nil
		}
		return nil, user.UnknownUserIdError(7)
	})
	for range 3 {
		if got := u.Name(0); got != "root" {
			t.Fatalf("Name(0) = %q", got)
		}
		if got := u.Name(7); got != "7" {
			t.Fatalf("Name(7) = %q", got)
		}
	}
	if lookups != 2 {
		t.Fatalf("%d lookups, want 2 (answers and misses cached)", lookups)
	}
	u.Name(8)
	if u.Len() != 2 {
		t.Fatalf("cache holds %d, want at most 2", u.Len())
	}
}
