//go:build linux

package transport

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestPeerCredentialsLinux(t *testing.T) {
	ep := newEndpoint(t)
	server, _ := roundTrip(t, mustListen(t, ep, nil), ep)
	creds, err := PeerCredentialsOf(server)
	if err != nil {
		t.Fatal(err)
	}
	if int(creds.UID) != os.Getuid() || int(creds.GID) != os.Getgid() || int(creds.PID) != os.Getpid() {
		t.Errorf("got %v, want uid=%d gid=%d pid=%d", creds, os.Getuid(), os.Getgid(), os.Getpid())
	}
	if got, want := resolve(t, creds.Executable), resolve(t, mustExecutable(t)); got != want {
		t.Errorf("Executable = %q, want %q", got, want)
	}
}

// A peer in another process: the credentials must be that process's, read
// while it is still connected.
func TestPeerCredentialsOtherProcess(t *testing.T) {
	ep := newEndpoint(t)
	l := mustListen(t, ep, nil)
	cmd := helperCommand(t, "hold", ep)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	creds, err := PeerCredentialsOf(server)
	if err != nil {
		t.Fatal(err)
	}
	if int(creds.PID) != cmd.Process.Pid {
		t.Errorf("PID = %d, want the helper's %d", creds.PID, cmd.Process.Pid)
	}
	if got, want := resolve(t, creds.Executable), resolve(t, cmd.Path); got != want {
		t.Errorf("Executable = %q, want %q", got, want)
	}
}

// Once the peer is gone its PID may name another process, so the
// executable must not be reported.
func TestPeerCredentialsPeerExited(t *testing.T) {
	ep := newEndpoint(t)
	l := mustListen(t, ep, nil)
	cmd := helperCommand(t, "hold", ep)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	creds, err := PeerCredentialsOf(server)
	if err != nil {
		t.Fatal(err)
	}
	if int(creds.PID) != cmd.Process.Pid || creds.Executable != "" {
		t.Errorf("got %v, want pid=%d and no executable", creds, cmd.Process.Pid)
	}
}

// peerExecutable must not report the executable of whatever process has
// taken over a dead peer's PID. Reuse is simulated by pairing a live PID
// (this process) with the pidfd of a helper that has exited.
func TestPeerExecutableRejectsReusedPID(t *testing.T) {
	self, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		t.Skipf("no pidfd support: %v", err)
	}
	defer unix.Close(self)
	if got, want := resolve(t, peerExecutable(int32(os.Getpid()), self)), resolve(t, mustExecutable(t)); got != want {
		t.Fatalf("live peer: Executable = %q, want %q", got, want)
	}

	ep := newEndpoint(t)
	l := mustListen(t, ep, nil)
	cmd := helperCommand(t, "hold", ep)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dead, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dead)
	if c, err := l.Accept(); err == nil {
		c.Close()
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	if got := peerExecutable(int32(os.Getpid()), dead); got != "" {
		t.Errorf("peer gone, PID reused: Executable = %q, want \"\"", got)
	}
}
