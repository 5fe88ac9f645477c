// Package storetest is the contract test suite of cachestore.Store: every
// implementation (Memory, Encrypted, Tiered, redisstore on one Redis, on a
// Cluster and behind Sentinel) runs the same cases, including the rule on
// value buffers (what Get returns and what Set is given are never modified
// by the store).
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
)

// Harness describes the store under test.
type Harness struct {
	// New returns an empty store.
	New func(t *testing.T) cachestore.Store
	// Advance moves the store's clock; nil when the store keeps real time
	// (Redis), in which case TTLs are checked through cachestore.TTLGetter.
	Advance func(d time.Duration)
}

// Run runs the contract.
func Run(t *testing.T, h Harness) {
	ctx := context.Background()
	t.Run("missing is not an error", func(t *testing.T) {
		s := h.New(t)
		v, ok, err := s.Get(ctx, "missing")
		if v != nil || ok || err != nil {
			t.Fatalf("Get(missing) = %v, %v, %v", v, ok, err)
		}
		if err := s.Delete(ctx, "missing"); err != nil {
			t.Fatalf("Delete(missing) = %v", err)
		}
	})
	t.Run("set get replace delete", func(t *testing.T) {
		s := h.New(t)
		for _, key := range []string{"plain", "with spaces and | bars", "ünïcödé-ключ", "idw1|https://login.example|c|A|t|api://x/.default|"} {
			mustSet(t, s, key, []byte("v1"), time.Hour)
			mustGet(t, s, key, []byte("v1"))
			mustSet(t, s, key, []byte("v2"), time.Hour)
			mustGet(t, s, key, []byte("v2"))
			if err := s.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := s.Get(ctx, key); ok {
				t.Fatalf("%q served after Delete", key)
			}
		}
	})
	t.Run("binary and large values", func(t *testing.T) {
		s := h.New(t)
		all := make([]byte, 256)
		for i := range all {
			all[i] = byte(i)
		}
		mustSet(t, s, "binary", all, time.Hour)
		mustGet(t, s, "binary", all)
		large := bytes.Repeat([]byte("0123456789abcdef"), 64<<10/16)
		mustSet(t, s, "large", large, time.Hour)
		mustGet(t, s, "large", large)
	})
	t.Run("keys are independent", func(t *testing.T) {
		s := h.New(t)
		for i := 0; i < 50; i++ {
			mustSet(t, s, "k"+strconv.Itoa(i), []byte("v"+strconv.Itoa(i)), time.Hour)
		}
		for i := 0; i < 50; i++ {
			mustGet(t, s, "k"+strconv.Itoa(i), []byte("v"+strconv.Itoa(i)))
		}
	})
	t.Run("ttl", func(t *testing.T) {
		s := h.New(t)
		mustSet(t, s, "short", []byte("x"), 2*time.Second)
		if h.Advance != nil {
			h.Advance(time.Second)
			mustGet(t, s, "short", []byte("x"))
			h.Advance(1500 * time.Millisecond)
			if _, ok, _ := s.Get(ctx, "short"); ok {
				t.Fatal("served after its TTL")
			}
			return
		}
		tg, ok := s.(cachestore.TTLGetter)
		if !ok {
			t.Skip("the store keeps real time and does not report TTLs")
		}
		_, ttl, found, err := tg.GetWithTTL(ctx, "short")
		if err != nil || !found || ttl <= 0 || ttl > 2*time.Second {
			t.Fatalf("GetWithTTL = %v, %v, %v", ttl, found, err)
		}
	})
	t.Run("value buffers are immutable", func(t *testing.T) {
		// The cachestore.Store contract: a slice Get returned is never
		// modified by the store afterwards, and the slice given to Set is
		// never written by it — whatever happens to the key later.
		s := h.New(t)
		in := []byte("value-one-0123456789")
		inWas := bytes.Clone(in)
		mustSet(t, s, "k", in, time.Hour)
		got1 := mustGetValue(t, s, "k")
		got1Was := bytes.Clone(got1)
		check := func(step string) {
			t.Helper()
			if !bytes.Equal(got1, got1Was) {
				t.Fatalf("after %s, the slice an earlier Get returned changed: %q, was %q", step, got1, got1Was)
			}
			if !bytes.Equal(in, inWas) {
				t.Fatalf("after %s, the slice given to Set changed: %q, was %q", step, in, inWas)
			}
		}
		mustSet(t, s, "k", []byte("value-two-abcdefghij"), time.Hour) // same length
		check("a Set of the same key")
		got2 := mustGetValue(t, s, "k")
		got2Was := bytes.Clone(got2)
		if err := s.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		check("a Delete")
		mustSet(t, s, "k", []byte("value-333-ABCDEFGHIJ"), time.Hour)
		check("a Set after the Delete")
		for i := 0; i < 200; i++ { // churn other keys (eviction, reuse)
			mustSet(t, s, "other"+strconv.Itoa(i%20), bytes.Repeat([]byte{byte(i)}, len(in)), time.Hour)
		}
		check("writes of other keys")
		mustSet(t, s, "short", []byte("value-444-short-ttl!"), 2*time.Second)
		got3 := mustGetValue(t, s, "short")
		got3Was := bytes.Clone(got3)
		if h.Advance != nil {
			h.Advance(3 * time.Second) // expired
			mustSet(t, s, "short", []byte("value-555-after-ttl!"), time.Hour)
		}
		check("an expiry")
		if !bytes.Equal(got2, got2Was) || !bytes.Equal(got3, got3Was) {
			t.Fatalf("a slice returned by Get changed: %q (was %q), %q (was %q)", got2, got2Was, got3, got3Was)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		s := h.New(t)
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 100; i++ {
					k := fmt.Sprintf("c%d", (g+i)%10)
					want := []byte(k + "-value")
					if err := s.Set(ctx, k, want, time.Hour); err != nil {
						t.Error(err)
						return
					}
					if v, ok, err := s.Get(ctx, k); err != nil || (ok && !bytes.Equal(v, want)) {
						t.Errorf("Get(%s) = %q, %v", k, v, err)
						return
					}
				}
			}(g)
		}
		wg.Wait()
	})
	t.Run("add once", func(t *testing.T) {
		a, ok := h.New(t).(cachestore.Adder)
		if !ok {
			return // the store does not add: nothing to hold it to
		}
		s := a.(cachestore.Store)
		if added, err := a.Add(ctx, "once", []byte("1"), 2*time.Second); err != nil || !added {
			t.Fatalf("first Add = %v, %v", added, err)
		}
		if added, err := a.Add(ctx, "once", []byte("2"), 2*time.Second); err != nil || added {
			t.Fatalf("second Add = %v, %v (the key was there)", added, err)
		}
		mustGet(t, s, "once", []byte("1"))
		mustSet(t, s, "set-first", []byte("v"), time.Hour)
		if added, _ := a.Add(ctx, "set-first", []byte("w"), time.Hour); added {
			t.Fatal("Add over a key Set holds")
		}
		// Many callers adding one key: exactly one wins.
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if added, err := a.Add(ctx, "race", []byte("x"), time.Hour); err == nil && added {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("%d concurrent Adds of one key succeeded, want 1", n)
		}
	})
}

func mustSet(t *testing.T, s cachestore.Store, key string, v []byte, ttl time.Duration) {
	t.Helper()
	if err := s.Set(context.Background(), key, v, ttl); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func mustGetValue(t *testing.T, s cachestore.Store, key string) []byte {
	t.Helper()
	v, ok, err := s.Get(context.Background(), key)
	if err != nil || !ok {
		t.Fatalf("Get(%q) = %v, %v", key, ok, err)
	}
	return v
}

func mustGet(t *testing.T, s cachestore.Store, key string, want []byte) {
	t.Helper()
	v, ok, err := s.Get(context.Background(), key)
	if err != nil || !ok || !bytes.Equal(v, want) {
		t.Fatalf("Get(%q) = %.40q, %v, %v; want %.40q", key, v, ok, err, want)
	}
}
