// Package redistest starts private redis-server processes for tests, the way
// net/http/httptest starts HTTP servers: on a free loopback port, stopped at
// test cleanup, never touching anybody else's data.
//
// When IDWEB_REDIS_ADDR is set, Start uses that server instead of starting one
// (the caller owns its data then). When redis-server cannot be found, Start
// skips the test on a developer machine and fails it when CI is set: in CI a
// missing Redis is a broken environment, not a reason to test less.
package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvAddr names the environment variable that points tests at an existing Redis.
const EnvAddr = "IDWEB_REDIS_ADDR"

// Server is a redis-server used by one test.
type Server struct {
	// Addr is the server's host:port on loopback.
	Addr string

	mu       sync.Mutex
	external bool
	bin      string
	dir      string
	conf     string // config file, first argument (Sentinel needs one)
	extra    []string
	cmd      *exec.Cmd
	exited   chan struct{}
}

// Start returns a running private Redis for t, stopped when t's cleanup runs.
func Start(t testing.TB) *Server {
	t.Helper()
	if addr := os.Getenv(EnvAddr); addr != "" {
		return &Server{Addr: addr, external: true}
	}
	bin := lookBinary(t)
	return startWith(t, bin, nil)
}

// startWith starts a private server with extra redis-server arguments.
func startWith(t testing.TB, bin string, extra []string) *Server {
	t.Helper()
	return startConf(t, bin, "", extra)
}

// startConf starts a private server; conf, when set, is written to a
// config file given as the first argument.
func startConf(t testing.TB, bin, conf string, extra []string) *Server {
	t.Helper()
	s := &Server{bin: bin, dir: t.TempDir(), extra: extra}
	if conf != "" {
		s.conf = s.dir + "/redis.conf"
		if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
			t.Fatalf("redistest: writing the config: %v", err)
		}
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			lastErr = err
			continue
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if lastErr = s.start(); lastErr == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("redistest: could not start redis-server: %v", lastErr)
	return nil
}

// External reports whether the server was given by IDWEB_REDIS_ADDR.
func (s *Server) External() bool { return s.external }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	var args []string
	if s.conf != "" {
		args = append(args, s.conf)
	}
	args = append(args, "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no",
		"--dir", s.dir, "--daemonize", "no",
		"--protected-mode", "yes", "--loglevel", "warning")
	cmd := exec.Command(s.bin, append(args, s.extra...)...)
	logf, err := os.Create(s.dir + "/redis-" + port + ".log")
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			out, _ := os.ReadFile(logf.Name())
			return fmt.Errorf("redis-server exited at start: %s", strings.TrimSpace(string(out)))
		default:
		}
		if Ping(s.Addr) == nil {
			s.mu.Lock()
			s.cmd, s.exited = cmd, exited
			s.mu.Unlock()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	<-exited
	return fmt.Errorf("redis-server on %s did not answer PING within 10s", s.Addr)
}

// Kill ends the server with SIGKILL, as a crash would. Restart brings it back
// on the same address (empty: it keeps nothing on disk).
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-exited
}

// Restart starts a killed or stopped server again on the same address.
func (s *Server) Restart() error {
	if s.external {
		return fmt.Errorf("redistest: cannot restart an external server")
	}
	s.Kill()
	var err error
	for attempt := 0; attempt < 50; attempt++ { // the port may linger briefly
		if err = s.start(); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

// Stop ends the server; it is called at cleanup and is safe to call twice.
func (s *Server) Stop() { s.Kill() }

// Ping sends PING to the Redis at addr with the raw protocol and reports
// whether it answered PONG.
func Ping(addr string) error {
	_, err := Do(addr, "PING")
	return err
}

// Do sends one command with the raw RESP protocol and returns the reply as
// text: a simple string or integer as written ("+OK", ":1"), a bulk string's
// content, or an array's elements joined by newlines (nested arrays
// flattened). An error reply is returned as an error. It lets tests and this
// helper talk to Redis without a client library.
func Do(addr string, args ...string) (string, error) {
	v, err := DoValue(addr, args...)
	if err != nil {
		return "", err
	}
	return flatten(v), nil
}

// DoValue is Do keeping the reply's structure: a string for a simple
// string, integer or bulk string (nil bulk: ""), a []any for an array.
func DoValue(addr string, args ...string) (any, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return nil, err
	}
	return readReply(bufio.NewReader(c), 0)
}

func flatten(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = flatten(e)
		}
		return strings.Join(parts, "\n")
	}
	return ""
}

func readReply(r *bufio.Reader, depth int) (any, error) {
	if depth > 8 {
		return nil, fmt.Errorf("redis: reply nested too deeply")
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return nil, fmt.Errorf("redis: empty reply")
	}
	switch line[0] {
	case '-':
		return nil, fmt.Errorf("redis: %s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return []any{}, err
		}
		parts := make([]any, 0, n)
		for i := 0; i < n; i++ {
			p, err := readReply(r, depth+1)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
		}
		return parts, nil
	default:
		return line, nil
	}
}

func lookBinary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redistest: redis-server not found on PATH and CI is set: install it (apt-get install redis-server)")
		}
		t.Skip("redistest: redis-server not found on PATH; install it or set " + EnvAddr)
	}
	return bin
}
