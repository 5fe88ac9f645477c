package redistest

import (
	"os"
	"testing"
)

// StartPersistent is Start with an append-only file synced on every write,
// so that Kill (SIGKILL) loses nothing and Restart comes back with the data:
// Redis as deployed with persistence, where a crash is an outage rather
// than a flush. With IDWEB_REDIS_ADDR set it returns that server, as Start.
func StartPersistent(t testing.TB) *Server {
	t.Helper()
	if addr := os.Getenv(EnvAddr); addr != "" {
		return &Server{Addr: addr, external: true}
	}
	return startWith(t, lookBinary(t), []string{"--appendonly", "yes", "--appendfsync", "always"})
}
