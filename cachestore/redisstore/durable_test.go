package redisstore_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/cachestore/redisstore"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/internal/redistest"
)

// instance is one app instance's cache: an L1 in front of the shared,
// encrypted Redis at addr.
func instance(t *testing.T, addr, prefix string, ring *cachestore.KeyRing, clk cachestore.Clock, opts cachestore.TieredOptions) *cachestore.Tiered {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	opts.Clock = clk
	if opts.Logger == nil {
		opts.Logger = discard()
	}
	tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk}),
		cachestore.NewEncrypted(redisstore.New(rdb, redisstore.Options{Prefix: prefix}), ring, cachestore.EncryptedOptions{Clock: clk}), opts)
	t.Cleanup(func() { tr.Close() })
	return tr
}

// eventually polls cond every 10 ms and fails t when it still does not hold
// after limit (a generous bound: the test fails only when it is exceeded by
// far, never on how fast a healthy run is).
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// TestDeleteWhileCircuitOpenIsDurable is security issue #14 item 2: a
// sign-out (Delete) made while the L2 circuit is open must not leave the
// tokens in Redis, and neither this instance nor another one may serve them
// once Redis is reachable again.
func TestDeleteWhileCircuitOpenIsDurable(t *testing.T) {
	srv := redistest.Start(t)
	link := redistest.StartProxy(t, srv.Addr) // instance A reaches Redis through it
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	clk := iwt.NewClock(time.Now())
	ctx := context.Background()
	const prefix = "durable:"
	var mu sync.Mutex
	reported := map[string]int{}
	a := instance(t, link.Addr, prefix, ring, clk, cachestore.TieredOptions{OnL2Failure: func(op string, err error) {
		mu.Lock()
		reported[op]++
		mu.Unlock()
	}})
	b := instance(t, srv.Addr, prefix, ring, clk, cachestore.TieredOptions{})
	const key = "idw1|authority|client|U|tenant|api://x/.default|partition-of-alice"
	a.Set(ctx, key, []byte("alice's refresh token"), time.Hour)
	if v, _, _ := b.Get(ctx, key); string(v) != "alice's refresh token" {
		t.Fatalf("b did not read a's write: %q", v)
	}

	// One failed L2 read on a opens its circuit.
	link.SetMode(redistest.Reset)
	if _, ok, err := a.Get(ctx, "not-in-l1"); ok || err != nil {
		t.Fatalf("Get with L2 down = %v, %v", ok, err)
	}
	if a.L2Failures() == 0 {
		t.Fatal("the failed L2 read was not counted")
	}
	if err := a.Delete(ctx, key); err != nil { // the user signs out on a
		t.Fatalf("Delete while the circuit is open = %v", err)
	}
	if _, ok, _ := a.Get(ctx, key); ok {
		t.Fatal("a served the key right after deleting it")
	}
	if n := a.PendingDeletes(); n != 1 {
		t.Fatalf("PendingDeletes = %d, want 1", n)
	}

	// Redis is reachable again and the circuit closes.
	link.SetMode(redistest.Pass)
	clk.Advance(3 * time.Second)
	if v, ok, _ := a.Get(ctx, key); ok {
		t.Fatalf("a served the signed-out key from L2 after its circuit closed: %q", v)
	}
	if v, ok, _ := a.GetFresh(ctx, key); ok {
		t.Fatalf("a's GetFresh served the signed-out key: %q", v)
	}
	raw := prefix + cachestore.HashKey(key)
	took := eventually(t, 15*time.Second, "the delete reaching Redis", func() bool {
		n, _ := redistest.Do(srv.Addr, "EXISTS", raw)
		return n == ":0"
	})
	t.Logf("deferred delete applied %v after Redis came back", took.Round(time.Millisecond))
	eventually(t, 15*time.Second, "PendingDeletes back to 0", func() bool { return a.PendingDeletes() == 0 })
	mu.Lock()
	if reported["delete"] != 1 {
		t.Errorf("OnL2Failure saw %d deferred deletes, want 1 (once per key): %v", reported["delete"], reported)
	}
	mu.Unlock()
	eventually(t, 15*time.Second, "b dropping its L1 copy (invalidation published)", func() bool {
		_, ok, _ := b.Get(ctx, key)
		return !ok
	})
	c := instance(t, srv.Addr, prefix, ring, clk, cachestore.TieredOptions{})
	if v, ok, _ := c.Get(ctx, key); ok {
		t.Fatalf("a third instance served the signed-out key: %q", v)
	}
	redistest.CheckTTLs(t, srv.Addr)
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
