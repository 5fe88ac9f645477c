package cachestore_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// flaky is an L2 that can be switched off, and counts its calls.
type flaky struct {
	cachestore.Store
	down  atomic.Bool
	calls atomic.Int64
}

var errDown = errors.New("l2 down")

func (f *flaky) Get(ctx context.Context, k string) ([]byte, bool, error) {
	f.calls.Add(1)
	if f.down.Load() {
		return nil, false, errDown
	}
	return f.Store.Get(ctx, k)
}

func (f *flaky) Set(ctx context.Context, k string, v []byte, ttl time.Duration) error {
	f.calls.Add(1)
	if f.down.Load() {
		return errDown
	}
	return f.Store.Set(ctx, k, v, ttl)
}

func TestTieredFillsL1WithL2TTL(t *testing.T) {
	ctx := context.Background()
	clk := iwt.NewClock(time.Unix(1_700_000_000, 0))
	l2 := cachestore.NewEncrypted(cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk}), mustRing(t), cachestore.EncryptedOptions{Clock: clk})
	l2.Set(ctx, "k", []byte("v"), 10*time.Second)
	l1 := cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk})
	tr := cachestore.NewTiered(l1, l2, cachestore.TieredOptions{Clock: clk})
	defer tr.Close()
	clk.Advance(4 * time.Second)
	if _, lvl, ok, _ := tr.GetLevel(ctx, "k"); !ok || lvl != cachestore.LevelL2 {
		t.Fatal("first read not from L2")
	}
	if _, lvl, ok, _ := tr.GetLevel(ctx, "k"); !ok || lvl != cachestore.LevelL1 {
		t.Fatal("second read not from L1")
	}
	clk.Advance(6 * time.Second) // L2's TTL is over: L1 must not outlive it
	if _, ok := l1.Lookup("k"); ok {
		t.Fatal("L1 kept an entry longer than L2")
	}
}

func TestTieredCircuitBreaker(t *testing.T) {
	ctx := context.Background()
	clk := iwt.NewClock(time.Unix(1_700_000_000, 0))
	l2 := &flaky{Store: cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk})}
	var hook atomic.Int64
	tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk}), l2, cachestore.TieredOptions{
		Clock: clk, CircuitBreak: 2 * time.Second, Logger: discard(),
		OnL2Failure: func(op string, err error) { hook.Add(1) },
	})
	defer tr.Close()
	tr.Set(ctx, "hot", []byte("in L1"), time.Hour)
	l2.down.Store(true)
	calls := l2.calls.Load()
	for i := 0; i < 100; i++ {
		if v, ok, err := tr.Get(ctx, "hot"); !ok || err != nil || string(v) != "in L1" {
			t.Fatal("L1 entry not served while L2 is down")
		}
		if _, ok, err := tr.Get(ctx, "cold"); ok || err != nil {
			t.Fatalf("L2 failure surfaced: %v", err)
		}
	}
	if n := l2.calls.Load() - calls; n != 1 {
		t.Fatalf("L2 called %d times while its circuit should be open, want 1", n)
	}
	if tr.L2Failures() != 1 || hook.Load() != 1 {
		t.Fatalf("failures = %d, hook = %d", tr.L2Failures(), hook.Load())
	}
	l2.down.Store(false)
	clk.Advance(2 * time.Second)
	tr.Set(ctx, "after", []byte("x"), time.Hour)
	if _, ok, _ := l2.Store.Get(ctx, "after"); !ok {
		t.Fatal("L2 not used again after the circuit closed")
	}
}

// bus is an in-process Invalidator over a Memory store: what Redis pub/sub
// does between instances.
type bus struct {
	*cachestore.Memory
	mu   sync.Mutex
	subs []func([]byte)
}

func (b *bus) Publish(_ context.Context, p []byte) error {
	b.mu.Lock()
	subs := append([]func([]byte){}, b.subs...)
	b.mu.Unlock()
	for _, s := range subs {
		s(append([]byte(nil), p...))
	}
	return nil
}

func (b *bus) Subscribe(ctx context.Context, on func([]byte), _ func()) error {
	b.mu.Lock()
	b.subs = append(b.subs, on)
	b.mu.Unlock()
	<-ctx.Done()
	return ctx.Err()
}

func TestTieredInvalidatesOtherInstances(t *testing.T) {
	ctx := context.Background()
	shared := &bus{Memory: cachestore.NewMemory(cachestore.MemoryOptions{})}
	enc := cachestore.NewEncrypted(shared, mustRing(t), cachestore.EncryptedOptions{})
	a := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{}), enc, cachestore.TieredOptions{})
	b := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{}), enc, cachestore.TieredOptions{})
	defer a.Close()
	defer b.Close()
	waitSubscribed(t, shared, 2)
	a.Set(ctx, "k", []byte("v1"), time.Hour)
	if v, _, _ := b.Get(ctx, "k"); string(v) != "v1" { // b now holds v1 in L1
		t.Fatal(string(v))
	}
	a.Set(ctx, "k", []byte("v2"), time.Hour) // replaced on a
	if v, _, _ := b.Get(ctx, "k"); string(v) != "v2" {
		t.Fatalf("b served %q after a replaced it", v)
	}
	a.Delete(ctx, "k") // sign-out on a
	if v, ok, _ := b.Get(ctx, "k"); ok {
		t.Fatalf("b served %q after a deleted it", v)
	}
	// a's own write is not dropped from a's L1 by its own message.
	a.Set(ctx, "own", []byte("x"), time.Hour)
	if _, lvl, ok, _ := a.GetLevel(ctx, "own"); !ok || lvl != cachestore.LevelL1 {
		t.Fatal("an instance dropped its own write from L1")
	}
}

func TestTieredAsyncWrites(t *testing.T) {
	ctx := context.Background()
	l2 := cachestore.NewMemory(cachestore.MemoryOptions{})
	tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{}), l2, cachestore.TieredOptions{AsyncWrites: true})
	tr.Set(ctx, "k", []byte("v"), time.Hour)
	if v, ok, _ := tr.Get(ctx, "k"); !ok || string(v) != "v" {
		t.Fatal("async write not visible in L1")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := l2.Lookup("k"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("async write never reached L2")
		}
		time.Sleep(time.Millisecond)
	}
	tr.Close()
}

func waitSubscribed(t *testing.T, b *bus, n int) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		got := len(b.subs)
		b.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("subscriptions not started")
		}
		time.Sleep(time.Millisecond)
	}
}

func mustRing(t *testing.T) *cachestore.KeyRing {
	r, err := cachestore.NewKeyRing(cachestore.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	return r
}
