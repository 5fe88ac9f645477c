package load

import (
	"os"
	"testing"
	"time"
)

// TestChaosRedisShort runs the Redis and identity-provider fault scenarios
// at CI size (failovers 6 s, the others 1.5 s). The full run:
// IDWEB_LOAD_DURATION=60s go test -run ChaosRedis -v ./benchmarks/load
func TestChaosRedisShort(t *testing.T) {
	d := 1500 * time.Millisecond
	if v := os.Getenv("IDWEB_LOAD_DURATION"); v != "" {
		if pd, err := time.ParseDuration(v); err == nil {
			d = pd
		}
	}
	for _, s := range ChaosScenarios(d) {
		t.Run(s.Name, func(t *testing.T) {
			r := RunChaos(t, s)
			t.Log(r)
			if !r.Pass {
				t.Fatal(r)
			}
		})
	}
}
