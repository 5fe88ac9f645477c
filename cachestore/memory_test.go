package cachestore_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

func TestMemoryContract(t *testing.T) {
	ctx := context.Background()
	clk := iwt.NewClock(time.Unix(1_700_000_000, 0))
	m := cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk})
	if v, ok, err := m.Get(ctx, "missing"); v != nil || ok || err != nil {
		t.Fatalf("missing = %v %v %v", v, ok, err)
	}
	m.Set(ctx, "k", []byte("v1"), time.Minute)
	if v, ok, _ := m.Get(ctx, "k"); !ok || string(v) != "v1" {
		t.Fatalf("get = %q %v", v, ok)
	}
	m.Set(ctx, "k", []byte("v2"), time.Minute)
	if v, _, _ := m.Get(ctx, "k"); string(v) != "v2" || m.Len() != 1 {
		t.Fatalf("replace = %q, len %d", v, m.Len())
	}
	clk.Advance(time.Minute)
	if _, ok, _ := m.Get(ctx, "k"); ok {
		t.Fatal("entry served at its TTL")
	}
	m.Set(ctx, "d", []byte("x"), 0) // default TTL
	if err := m.Delete(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, "never"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := m.Get(ctx, "d"); ok {
		t.Fatal("deleted entry served")
	}
}

func TestMemoryBoundedInBytes(t *testing.T) {
	ctx := context.Background()
	const max = 1 << 20
	m := cachestore.NewMemory(cachestore.MemoryOptions{MaxBytes: max})
	val := make([]byte, 1000)
	for i := 0; i < 5000; i++ {
		m.Set(ctx, "key-"+strconv.Itoa(i), val, time.Hour)
	}
	if b := m.Bytes(); b > max {
		t.Fatalf("Bytes = %d > MaxBytes %d", b, max)
	}
	if n := m.Len(); n < 500 || n >= 5000 {
		t.Fatalf("Len = %d: eviction kept too few or none", n)
	}
	// A value larger than a shard's budget is simply not cached.
	m.Set(ctx, "huge", make([]byte, max), time.Hour)
	if _, ok, _ := m.Get(ctx, "huge"); ok {
		t.Fatal("oversized value cached")
	}
}

func TestMemoryClockSparesHotEntries(t *testing.T) {
	ctx := context.Background()
	m := cachestore.NewMemory(cachestore.MemoryOptions{MaxBytes: 64 << 10}) // 1 KiB per shard
	val := make([]byte, 200)
	m.Set(ctx, "hot", val, time.Hour)
	for i := 0; i < 2000; i++ {
		m.Get(ctx, "hot") // referenced before every insertion
		m.Set(ctx, fmt.Sprint("cold-", i), val, time.Hour)
	}
	if _, ok, _ := m.Get(ctx, "hot"); !ok {
		t.Fatal("the hot entry was evicted")
	}
}

func TestMemoryExpiredEvictedFirst(t *testing.T) {
	ctx := context.Background()
	clk := iwt.NewClock(time.Unix(1_700_000_000, 0))
	// 2,000 expired and 2,000 live entries of ~210 accounted bytes each in
	// 64 shards of 11 KiB: room for the live ones, not for both.
	m := cachestore.NewMemory(cachestore.MemoryOptions{MaxBytes: 64 * 11 << 10, Clock: clk})
	for i := 0; i < 2000; i++ {
		m.Set(ctx, fmt.Sprint("short-", i), make([]byte, 100), time.Second)
	}
	clk.Advance(2 * time.Second)
	for i := 0; i < 2000; i++ {
		m.Set(ctx, fmt.Sprint("long-", i), make([]byte, 100), time.Hour)
	}
	live := 0
	for i := 0; i < 2000; i++ {
		if _, ok, _ := m.Get(ctx, fmt.Sprint("long-", i)); ok {
			live++
		}
	}
	if live < 1980 {
		t.Fatalf("only %d of 2000 live entries kept while expired ones were available", live)
	}
}

func TestMemoryConcurrent(t *testing.T) {
	ctx := context.Background()
	m := cachestore.NewMemory(cachestore.MemoryOptions{MaxBytes: 256 << 10})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				k := strconv.Itoa((g*7919 + i) % 500)
				switch i % 3 {
				case 0:
					m.Set(ctx, k, []byte(k), time.Minute)
				case 1:
					if v, ok, _ := m.Get(ctx, k); ok && string(v) != k {
						t.Errorf("key %s holds %q", k, v)
					}
				default:
					m.Delete(ctx, k)
				}
			}
		}(g)
	}
	wg.Wait()
}

func BenchmarkMemoryGet(b *testing.B) {
	for _, n := range []int{1, 10_000, 1_000_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			m := cachestore.NewMemory(cachestore.MemoryOptions{MaxBytes: 4 << 30})
			val := make([]byte, 64)
			for i := 0; i < n; i++ {
				m.Set(context.Background(), "key-"+strconv.Itoa(i), val, time.Hour)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, ok := m.Lookup("key-0"); !ok {
					b.Fatal("miss")
				}
			}
		})
	}
}

// An added key can be added again once it expired.
func TestMemoryAddAfterExpiry(t *testing.T) {
	clk := iwt.NewClock(time.Unix(1_700_000_000, 0))
	m := cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk})
	if ok, _ := m.Add(t.Context(), "k", []byte("1"), time.Second); !ok {
		t.Fatal("first Add")
	}
	clk.Advance(2 * time.Second)
	if ok, _ := m.Add(t.Context(), "k", []byte("2"), time.Second); !ok {
		t.Fatal("Add after expiry refused")
	}
}
