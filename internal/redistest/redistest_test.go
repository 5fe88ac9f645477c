package redistest

import (
	"net"
	"strings"
	"testing"
)

func TestStartPrivateServer(t *testing.T) {
	t.Setenv(EnvAddr, "")
	s := Start(t)
	host, port, err := net.SplitHostPort(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if host != "127.0.0.1" || port == "6379" {
		t.Fatalf("Addr = %s, want a private loopback port", s.Addr)
	}
	if got, err := Do(s.Addr, "SET", "k", "v"); err != nil || got != "+OK" {
		t.Fatalf("SET = %q, %v", got, err)
	}
	if got, err := Do(s.Addr, "EXISTS", "k"); err != nil || got != ":1" {
		t.Fatalf("EXISTS = %q, %v", got, err)
	}
}

func TestKillAndRestart(t *testing.T) {
	t.Setenv(EnvAddr, "")
	s := Start(t)
	if _, err := Do(s.Addr, "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	if err := Ping(s.Addr); err == nil {
		t.Fatal("PING succeeded after Kill")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := Ping(s.Addr); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
	if got, _ := Do(s.Addr, "EXISTS", "k"); got != ":0" {
		t.Fatalf("data survived a SIGKILL with persistence off: EXISTS = %q", got)
	}
}

func TestStopAtCleanup(t *testing.T) {
	t.Setenv(EnvAddr, "")
	var addr string
	t.Run("inner", func(t *testing.T) { addr = Start(t).Addr })
	if err := Ping(addr); err == nil {
		t.Fatalf("server on %s still answers after its test's cleanup", addr)
	}
}

func TestExternalAddr(t *testing.T) {
	t.Setenv(EnvAddr, "127.0.0.1:1")
	s := Start(t)
	if !s.External() || s.Addr != "127.0.0.1:1" {
		t.Fatalf("Start with %s set = %+v", EnvAddr, s)
	}
	if err := s.Restart(); err == nil {
		t.Fatal("Restart of an external server should fail")
	}
}

func TestCluster(t *testing.T) {
	c := StartCluster(t, 3)
	if len(c.Addrs()) != 3 {
		t.Fatal(c)
	}
	info, err := Do(c.Nodes[1].Addr, "CLUSTER", "INFO")
	if err != nil || !strings.Contains(info, "cluster_slots_assigned:16384") {
		t.Fatalf("CLUSTER INFO = %q, %v", info, err)
	}
	// A key lands on exactly one node; the others redirect.
	moved := 0
	for _, n := range c.Nodes {
		if _, err := Do(n.Addr, "SET", "some-key", "v"); err != nil && strings.Contains(err.Error(), "MOVED") {
			moved++
		}
	}
	if moved != 2 {
		t.Fatalf("%d of 3 nodes redirected", moved)
	}
}

func TestDoBulkAndArray(t *testing.T) {
	t.Setenv(EnvAddr, "")
	s := Start(t)
	Do(s.Addr, "RPUSH", "l", "a", "b")
	if got, err := Do(s.Addr, "LRANGE", "l", "0", "-1"); err != nil || got != "a\nb" {
		t.Fatalf("LRANGE = %q %v", got, err)
	}
	Do(s.Addr, "SET", "k", "multi\r\nline")
	if got, _ := Do(s.Addr, "GET", "k"); got != "multi\r\nline" {
		t.Fatalf("GET = %q", got)
	}
	if _, err := Do(s.Addr, "NOPE"); err == nil {
		t.Fatal("an unknown command did not fail")
	}
}
