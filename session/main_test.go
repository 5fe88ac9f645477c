package session_test

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/internal/redistest"
)

// redisAddr is a private redis-server the Redis examples use.
var redisAddr string

// TestMain starts a private redis-server for the examples that need one. On
// a developer machine without redis-server those examples are skipped; in
// CI (CI set) its absence fails the run.
func TestMain(m *testing.M) {
	stop, err := startRedis()
	if err != nil {
		if os.Getenv("CI") != "" {
			fmt.Fprintln(os.Stderr, "session tests: redis-server is required in CI:", err)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "session tests: skipping the Redis examples:", err)
		flag.Parse()
		flag.Set("test.skip", "ExampleNewSCS_redis")
	}
	code := m.Run()
	if stop != nil {
		stop()
	}
	os.Exit(code)
}

func startRedis() (func(), error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for i := 0; i < 200; i++ {
		if redistest.Ping(addr) == nil {
			redisAddr = addr
			return func() { cmd.Process.Kill(); cmd.Wait() }, nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, fmt.Errorf("redis-server did not answer on %s", addr)
}
