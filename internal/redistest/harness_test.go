package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// echoServer answers each line with the same line.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(c net.Conn, r *bufio.Reader, line string, limit time.Duration) (string, error) {
	c.SetDeadline(time.Now().Add(limit))
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	got, err := r.ReadString('\n')
	return strings.TrimSpace(got), err
}

func TestProxyModes(t *testing.T) {
	p := StartProxy(t, echoServer(t))
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if got, err := roundTrip(c, r, "pass", 5*time.Second); err != nil || got != "pass" {
		t.Fatalf("pass: %q %v", got, err)
	}
	if n := p.OpenConns(); n != 1 {
		t.Fatalf("OpenConns = %d, want 1", n)
	}

	p.SetLatency(100 * time.Millisecond)
	start := time.Now()
	if got, err := roundTrip(c, r, "slow", 5*time.Second); err != nil || got != "slow" {
		t.Fatalf("latency: %q %v", got, err)
	}
	took := time.Since(start)
	t.Logf("round trip with 100ms latency: %v", took)
	if took < 100*time.Millisecond {
		t.Fatalf("latency mode answered in %v, before its delay", took)
	}

	p.SetMode(Stall)
	if _, err := roundTrip(c, r, "held", 200*time.Millisecond); err == nil {
		t.Fatal("a stalled proxy answered")
	}
	p.SetMode(Pass) // what was held flows now
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if got, err := r.ReadString('\n'); err != nil || strings.TrimSpace(got) != "held" {
		t.Fatalf("held bytes after the stall: %q %v", got, err)
	}

	p.SetMode(Reset)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("the connection survived Reset")
	}
	if c2, err := net.Dial("tcp", p.Addr); err == nil {
		c2.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c2.Read(make([]byte, 1)); err == nil {
			t.Fatal("a new connection survived Reset")
		}
		c2.Close()
	}
	waitFor(t, 10*time.Second, "connections to close", func() bool { return p.OpenConns() == 0 })
	p.SetMode(Pass)
	c3, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if got, err := roundTrip(c3, bufio.NewReader(c3), "back", 5*time.Second); err != nil || got != "back" {
		t.Fatalf("after Reset and Pass: %q %v", got, err)
	}
}

func TestProxyHTTPAndCleanup(t *testing.T) {
	before := runtime.NumGoroutine()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	t.Run("inner", func(t *testing.T) {
		p := StartProxy(t, strings.TrimPrefix(srv.URL, "http://"))
		cl := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{}}
		defer cl.CloseIdleConnections()
		resp, err := cl.Get("http://" + p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" {
			t.Fatalf("through the proxy: %q", b)
		}
		p.SetMode(Stall)
		if _, err := cl.Get("http://" + p.Addr); err == nil {
			t.Fatal("a stalled HTTP server answered")
		}
	})
	// The proxy's goroutines end with its test.
	waitFor(t, 10*time.Second, "the proxy's goroutines to end", func() bool { return runtime.NumGoroutine() <= before+2 })
}

func TestCheckTTLs(t *testing.T) {
	t.Setenv(EnvAddr, "")
	s := Start(t)
	Do(s.Addr, "SET", "a", "1", "PX", "60000")
	Do(s.Addr, "SET", "b", "2", "EX", "60")
	if n := CheckTTLs(t, s.Addr); n != 2 {
		t.Fatalf("checked %d keys, want 2", n)
	}
	Do(s.Addr, "SET", "forever", "x")
	ft := &fakeTB{TB: t}
	CheckTTLs(ft, s.Addr)
	if len(ft.errs) != 1 || !strings.Contains(ft.errs[0], "forever") {
		t.Fatalf("a key without a TTL was not reported: %q", ft.errs)
	}
}

// fakeTB records errors instead of failing.
type fakeTB struct {
	testing.TB
	errs []string
}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Helper() {}

func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	s := StartSentinel(t, SentinelOptions{})
	old, err := s.MasterAddr()
	if err != nil || old != s.Nodes[0].Addr {
		t.Fatalf("MasterAddr = %s, %v; want %s", old, err, s.Nodes[0].Addr)
	}
	if _, err := Do(old, "SET", "k", "v", "EX", "60"); err != nil {
		t.Fatal(err)
	}
	WaitReplicated(t, old)
	start := time.Now()
	s.KillMaster(t)
	addr := s.WaitFailover(t, old)
	t.Logf("sentinel failover %s -> %s in %v", old, addr, time.Since(start).Round(time.Millisecond))
	if got, err := Do(addr, "GET", "k"); err != nil || got != "v" {
		t.Fatalf("replicated key on the new master: %q %v", got, err)
	}
	CheckTTLs(t, addr)
}

func TestClusterWithReplicasFailover(t *testing.T) {
	t.Parallel()
	c := StartClusterWith(t, ClusterOptions{Masters: 3, ReplicasPerMaster: 1, NodeTimeout: time.Second})
	if len(c.Nodes) != 6 {
		t.Fatal(c)
	}
	m, err := c.MasterFor("some-key")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Do(m.Addr, "SET", "some-key", "v", "EX", "60"); err != nil {
		t.Fatal(err)
	}
	WaitReplicated(t, m.Addr)
	start := time.Now()
	m.Kill()
	addr := c.WaitFailover(t, m.Addr)
	t.Logf("cluster failover %s -> %s in %v", m.Addr, addr, time.Since(start).Round(time.Millisecond))
	if got, err := Do(addr, "GET", "some-key"); err != nil || got != "v" {
		t.Fatalf("replicated key on the promoted replica: %q %v", got, err)
	}
}
