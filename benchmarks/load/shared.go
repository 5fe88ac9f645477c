package load

import (
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/cachestore/redisstore"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// sharedL2 is the encrypted Redis level the instances of a run share.
// clock, when set, is the clock entries' lifetimes follow.
func sharedL2(tb testing.TB, addr string, ring *cachestore.KeyRing, clock cachestore.Clock) *cachestore.Encrypted {
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1,
		DialTimeout: 100 * time.Millisecond, ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond})
	tb.Cleanup(func() { rdb.Close() })
	return cachestore.NewEncrypted(redisstore.New(rdb, redisstore.Options{Prefix: "load:"}), ring,
		cachestore.EncryptedOptions{Logger: quiet, Clock: clock})
}

// instanceCache is one instance's token cache: its own L1 over the shared
// L2. The circuit breaker runs on wall time, as Redis does.
func instanceCache(tb testing.TB, l2 cachestore.Store, clock cachestore.Clock) *cachestore.Tiered {
	t := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{Clock: clock}), l2,
		cachestore.TieredOptions{Logger: quiet, CircuitBreak: 500 * time.Millisecond})
	tb.Cleanup(func() { t.Close() })
	return t
}

// roundRobin sends each request to the next instance, as a load balancer
// without affinity does.
func roundRobin(instances []http.Handler) http.Handler {
	if len(instances) == 1 {
		return instances[0]
	}
	var n atomic.Uint64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		instances[(n.Add(1)-1)%uint64(len(instances))].ServeHTTP(w, r)
	})
}
