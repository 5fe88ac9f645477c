package redisstore_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/cachestore/redisstore"
	"github.com/identityweb/go-identityweb/internal/redistest"
)

// tokenBytes is the size of an encoded cache entry holding a typical Entra
// access token.
var tokenValue = bytes.Repeat([]byte("x"), 1600)

// BenchmarkL2Hit compares an L2 hit through Tiered (L1 miss, SHA-256 of the
// key, GET+PTTL in one round trip, AES-GCM open, L1 fill) with a raw go-redis
// GET of the same number of bytes, on the same Redis, in the same run.
func BenchmarkL2Hit(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	defer rdb.Close()
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	l1 := cachestore.NewMemory(cachestore.MemoryOptions{})
	l2 := cachestore.NewEncrypted(redisstore.New(rdb, redisstore.Options{}), ring, cachestore.EncryptedOptions{})
	tr := cachestore.NewTiered(l1, l2, cachestore.TieredOptions{L2Timeout: time.Second})
	defer tr.Close()
	key := "idw1|https://login.microsoftonline.com|11111111-0000-4000-8000-000000000001|U|tenant|api://x/access_as_user|partitiondigestpartitiondigestpartitiond"
	if err := tr.Set(ctx, key, tokenValue, time.Hour); err != nil {
		b.Fatal(err)
	}
	sealed, _, _ := l2.Unwrap().Get(ctx, cachestore.HashKey(key))
	rdb.Set(ctx, "raw", sealed, time.Hour) // the same bytes Tiered reads
	b.Run("raw-go-redis-GET", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := rdb.Get(ctx, "raw").Bytes(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tiered-L2", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			l1.Delete(ctx, key)
			if _, lvl, ok, _ := tr.GetLevel(ctx, key); !ok || lvl != cachestore.LevelL2 {
				b.Fatal("not an L2 hit")
			}
		}
	})
}
