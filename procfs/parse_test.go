package procfs

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// statLine builds a stat line with the given pid, comm, ppid and start
// time; the other fields are plausible constants.
func statLine(pid int, comm string, ppid int, start uint64) string {
	return strings.Join([]string{
		itoa(pid), "(" + comm + ")", "S", itoa(ppid), "1234", "1234", "0", "-1", "4194560",
		"120", "0", "0", "0", "3", "1", "0", "0", "20", "0", "1", "0", utoa(start),
		"8765440", "200", "18446744073709551615", "1", "1", "0", "0", "0", "0", "0", "0", "0", "0",
	}, " ") + "\n"
}

func TestParseStat(t *testing.T) {
	cases := []struct {
		name, comm string
	}{
		{"plain", "bash"},
		{"spaces", "Web Content"},
		{"parens", "a) (b"},
		{"closing paren last", "x)"},
		{"only parens", ")()("},
		{"digits and spaces", "1 2 3 S 4"},
		{"empty", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := ParseStat([]byte(statLine(4242, c.comm, 17, 987654)))
			if err != nil {
				t.Fatal(err)
			}
			want := Stat{PID: 4242, PPID: 17, Comm: c.comm, State: 'S', StartTicks: 987654}
			if st != want {
				t.Fatalf("got %+v, want %+v", st, want)
			}
		})
	}
}

func TestParseStatInvalidUTF8(t *testing.T) {
	st, err := ParseStat([]byte(statLine(1, "a\xffb", 0, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if st.Comm != "a\uFFFDb" {
		t.Fatalf("comm %q", st.Comm)
	}
}

func TestParseStatMalformed(t *testing.T) {
	for _, in := range []string{
		"",
		"1 bash S 0",
		"1 (bash S 0",
		"x (bash) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"1 (bash) S 0",
		"1 (bash) SS 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"1 (bash) S -1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"1 (bash) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 x",
		") 1 (bash S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
	} {
		if st, err := ParseStat([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseStat(%q) = %+v, %v; want ErrMalformed", in, st, err)
		}
	}
}

func TestParseCmdline(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"\x00", ""},
		{"sleep\x0030\x00", "sleep 30"},
		{"/usr/bin/python3\x00-c\x00print('a b')\x00", "/usr/bin/python3 -c print('a b')"},
		{"nginx: worker process", "nginx: worker process"}, // setproctitle, no NULs
		{"a\x00\x00b\x00", "a  b"},                         // an empty argument
		{"bad\xff\x00", "bad\uFFFD"},
	}
	for _, c := range cases {
		if got := ParseCmdline([]byte(c.in)); got != c.want {
			t.Errorf("ParseCmdline(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	long := strings.Repeat("x", MaxCmdline+100)
	if got := ParseCmdline([]byte(long)); len(got) != MaxCmdline {
		t.Errorf("long command line kept %d bytes, want %d", len(got), MaxCmdline)
	}
}

const statusSample = "Name:\tsleep\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t77\nPid:\t77\nPPid:\t1\n" +
	"Uid:\t1000\t1001\t1002\t1003\nGid:\t100\t100\t100\t100\nGroups:\t100\n"

func TestParseStatusUIDs(t *testing.T) {
	ids, err := ParseStatusUIDs([]byte(statusSample))
	if err != nil {
		t.Fatal(err)
	}
	if want := (UIDs{Real: 1000, Effective: 1001, Saved: 1002, FS: 1003}); ids != want {
		t.Fatalf("got %+v, want %+v", ids, want)
	}
	for _, in := range []string{"", "Name:\tx\n", "Uid:\t1\t2\t3\n", "Uid:\t1\t2\t3\tx\n", "Uid:\t-1\t0\t0\t0\n"} {
		if _, err := ParseStatusUIDs([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseStatusUIDs(%q): %v, want ErrMalformed", in, err)
		}
	}
}

func TestParseBootTime(t *testing.T) {
	in := "cpu  1 2 3 4\ncpu0 1 2 3 4\nintr 1 2\nctxt 99\nbtime 1700000000\nprocesses 5\n"
	sec, err := ParseBootTime([]byte(in))
	if err != nil || sec != 1700000000 {
		t.Fatalf("got %d, %v", sec, err)
	}
	for _, in := range []string{"", "cpu 1\n", "btime x\n", "btime 0\n", "btime -5\n"} {
		if _, err := ParseBootTime([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseBootTime(%q): %v, want ErrMalformed", in, err)
		}
	}
}

func TestParsePID(t *testing.T) {
	for in, want := range map[string]bool{
		"1": true, "4194304": true, "self": false, "": false, "0": false, "01": false,
		"12a": false, "-1": false, "4294967296": false, "thread-self": false,
	} {
		if _, ok := ParsePID(in); ok != want {
			t.Errorf("ParsePID(%q) ok = %v, want %v", in, ok, want)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte(statLine(1, "init", 0, 5)))
	f.Add([]byte(statLine(2, "a) (b", 1, 5)))
	f.Add([]byte("1 () S"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseStat(b)
		if err != nil {
			return
		}
		if !utf8.ValidString(st.Comm) {
			t.Fatalf("accepted %q with comm %q, not UTF-8", b, st.Comm)
		}
	})
}

func itoa(i int) string    { return strconv.Itoa(i) }
func utoa(u uint64) string { return strconv.FormatUint(u, 10) }
