package redisstore_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/internal/redistest"
)

// SET NX through the encrypted tiered store: among instances racing to add
// one key, exactly one wins, and the key carries a TTL in Redis.
func TestAddOnceAcrossInstances(t *testing.T) {
	srv := redistest.Start(t)
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	s := single(t, srv)
	var won atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{}), cachestore.NewEncrypted(s, ring, cachestore.EncryptedOptions{}), cachestore.TieredOptions{})
		t.Cleanup(func() { tr.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := tr.Add(context.Background(), "jti-1", []byte("seen"), time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d instances added the key, want 1", won.Load())
	}
	if ok, _ := s.Add(context.Background(), "plain", []byte("v"), 0); !ok {
		t.Fatal("Add without a TTL refused")
	}
	if n := redistest.CheckTTLs(t, srv.Addr); n < 2 {
		t.Fatalf("%d keys checked", n)
	}
}
