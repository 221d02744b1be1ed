package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is a nats-server this program started, listening on loopback only.
type server struct {
	cmd  *exec.Cmd
	url  string
	exit chan error

	mu   sync.Mutex
	tail []string // the server's last log lines, for error reports
}

var listenLine = regexp.MustCompile(`Listening for client connections on (127\.0\.0\.1:\d+)`)

// startServer starts bin on 127.0.0.1 with a port the kernel picks
// ("-p -1") and learns the port from the server's log.
func startServer(bin string) (*server, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("%s not found (Debian: apt-get install nats-server): %w", bin, err)
	}
	s := &server{exit: make(chan error, 1)}
	s.cmd = exec.Command(path, "-a", "127.0.0.1", "-p", "-1")
	s.cmd.SysProcAttr = childAttr()
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	found := make(chan string, 1)
	go s.readLog(stderr, found)
	select {
	case addr := <-found:
		s.url = "nats://" + addr
		return s, nil
	case err := <-s.exit:
		return nil, fmt.Errorf("nats-server exited: %v\n%s", err, s.logTail())
	case <-time.After(10 * time.Second):
		s.stop()
		return nil, fmt.Errorf("nats-server did not start listening within 10s\n%s", s.logTail())
	}
}

// readLog keeps the server's last log lines and reports its address once.
func (s *server) readLog(r io.Reader, found chan<- string) {
	sc := bufio.NewScanner(r)
	sent := false
	for sc.Scan() {
		line := sc.Text()
		s.mu.Lock()
		s.tail = append(s.tail, line)
		if len(s.tail) > 20 {
			s.tail = s.tail[1:]
		}
		s.mu.Unlock()
		if m := listenLine.FindStringSubmatch(line); m != nil && !sent {
			found <- m[1]
			sent = true
		}
	}
	s.exit <- s.cmd.Wait()
}

func (s *server) logTail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.tail, "\n")
}

// stop asks the server to exit and kills it after 5 s.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exit:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exit
	}
}

// checkLoopback accepts only URLs whose host is a loopback address: this
// tool never sends traffic anywhere else. It returns the URL with a
// nats:// scheme added when it had none.
func checkLoopback(raw string) (string, error) {
	if !strings.Contains(raw, "://") {
		raw = "nats://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	host := u.Hostname()
	if host == "localhost" {
		return raw, nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return "", errors.New("-server must be a loopback address (127.0.0.0/8, ::1 or localhost), not " + host)
	}
	return raw, nil
}
