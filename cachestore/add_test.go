package cachestore_test

import (
	"context"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// adderL2 is a flaky L2 that can also add.
type adderL2 struct{ flaky }

func (f *adderL2) Add(ctx context.Context, k string, v []byte, ttl time.Duration) (bool, error) {
	f.calls.Add(1)
	if f.down.Load() {
		return false, errDown
	}
	return f.Store.(cachestore.Adder).Add(ctx, k, v, ttl)
}

func TestMemoryAdd(t *testing.T) {
	ctx := context.Background()
	clk := iwt.NewClock(time.Unix(1_700_000_000, 0))
	m := cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk})
	if ok, err := m.Add(ctx, "jti", []byte("1"), time.Minute); !ok || err != nil {
		t.Fatalf("first Add = %v, %v", ok, err)
	}
	if ok, _ := m.Add(ctx, "jti", []byte("2"), time.Minute); ok {
		t.Fatal("second Add of a live key succeeded")
	}
	if v, _, _ := m.Get(ctx, "jti"); string(v) != "1" {
		t.Fatalf("value = %q, want the first", v)
	}
	clk.Advance(time.Minute)
	if ok, _ := m.Add(ctx, "jti", []byte("3"), time.Minute); !ok {
		t.Fatal("Add after expiry refused")
	}
}

// Instances sharing an L2 agree: one Add of a key wins. With L2 down, L1
// decides and the key reaches L2 once it is back, so a later Add on
// another instance is refused.
func TestTieredAddAcrossInstances(t *testing.T) {
	ctx := context.Background()
	clk := iwt.NewClock(time.Unix(1_700_000_000, 0))
	l2 := &adderL2{flaky{Store: cachestore.NewEncrypted(cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk}), mustRing(t), cachestore.EncryptedOptions{Clock: clk})}}
	inst := func() *cachestore.Tiered {
		tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk}), l2,
			cachestore.TieredOptions{Logger: discard(), CircuitBreak: 20 * time.Millisecond})
		t.Cleanup(func() { tr.Close() })
		return tr
	}
	a, b := inst(), inst()
	if ok, _ := a.Add(ctx, "j1", []byte("x"), time.Hour); !ok {
		t.Fatal("first Add refused")
	}
	if ok, _ := b.Add(ctx, "j1", []byte("x"), time.Hour); ok {
		t.Fatal("a second instance added the same key")
	}
	if ok, _ := a.Add(ctx, "j1", []byte("x"), time.Hour); ok {
		t.Fatal("the same instance added the key twice")
	}

	l2.down.Store(true)
	if ok, _ := a.Add(ctx, "j2", []byte("x"), time.Hour); !ok {
		t.Fatal("with L2 down, L1 must decide")
	}
	if ok, _ := a.Add(ctx, "j2", []byte("x"), time.Hour); ok {
		t.Fatal("with L2 down, the same instance added a key twice")
	}
	if a.PendingWrites() != 1 {
		t.Fatalf("pending writes = %d, want 1", a.PendingWrites())
	}
	l2.down.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for a.PendingWrites() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the added key never reached L2")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ok, _ := b.Add(ctx, "j2", []byte("x"), time.Hour); ok {
		t.Fatal("a key added while L2 was down was added again on another instance once L2 was back")
	}
}
