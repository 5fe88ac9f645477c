package load

import (
	"os"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/internal/redistest"
)

// TestChaosShort is the CI-size run (a few seconds per scenario). The full
// run: IDWEB_LOAD_DURATION=60s go test -run Chaos -v ./benchmarks/load
func TestChaosShort(t *testing.T) {
	d := 1500 * time.Millisecond
	if v := os.Getenv("IDWEB_LOAD_DURATION"); v != "" {
		if pd, err := time.ParseDuration(v); err == nil {
			d = pd
		}
	}
	for _, s := range Scenarios(d) {
		t.Run(s.Name, func(t *testing.T) {
			var addr string
			var ctl RedisControl
			if s.UseRedis {
				var srv *redistest.Server
				if s.RedisPersistent {
					srv = redistest.StartPersistent(t)
				} else {
					srv = redistest.Start(t)
				}
				if srv.External() {
					t.Skip("needs a private redis-server it can kill")
				}
				addr, ctl = srv.Addr, srv
			}
			r := Run(t, s, addr, ctl)
			t.Log(r)
			if !r.Pass {
				t.Fatal(r)
			}
		})
	}
}
