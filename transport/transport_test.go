package transport

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestPeerCredentialsString(t *testing.T) {
	for _, tc := range []struct {
		creds PeerCredentials
		want  string
	}{
		{PeerCredentials{UID: 1000, GID: 1000, PID: 4242, Executable: "/usr/bin/procmond"},
			"uid=1000 gid=1000 pid=4242 exe=/usr/bin/procmond"},
		{PeerCredentials{UID: 0, GID: 0}, "uid=0 gid=0"},
		{PeerCredentials{UID: 1, GID: 2, PID: 3}, "uid=1 gid=2 pid=3"},
		// The peer names its own binary; it must not be able to forge
		// fields or lines in the log.
		{PeerCredentials{UID: 1, GID: 1, PID: 9, Executable: "/tmp/x uid=0\nfake"},
			`uid=1 gid=1 pid=9 exe="/tmp/x uid=0\nfake"`},
		{PeerCredentials{UID: 1, GID: 1, Executable: "/bin/a (deleted)"},
			`uid=1 gid=1 exe="/bin/a (deleted)"`},
		{PeerCredentials{UID: 1, GID: 1, Executable: "/bin/\xff"},
			`uid=1 gid=1 exe="/bin/\xff"`},
	} {
		if got := tc.creds.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func TestPeerCredentialsLogValue(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	log.Info("accepted", "peer", PeerCredentials{UID: 1000, GID: 100, PID: 42, Executable: "/usr/bin/procmond"})
	want := "level=INFO msg=accepted peer.uid=1000 peer.gid=100 peer.pid=42 peer.exe=/usr/bin/procmond\n"
	if buf.String() != want {
		t.Errorf("log line = %q, want %q", buf.String(), want)
	}
}

func TestDetailErrorMatchesSentinelAndCause(t *testing.T) {
	cause := errors.New("cause")
	err := &detailError{sentinel: ErrInUse, msg: "transport: endpoint /x is in use by another running broker", cause: cause}
	if !errors.Is(err, ErrInUse) || !errors.Is(err, cause) {
		t.Errorf("%v does not match both its sentinel and its cause", err)
	}
	if !strings.HasSuffix(err.Error(), ": cause") {
		t.Errorf("message %q lacks the cause", err)
	}
}
