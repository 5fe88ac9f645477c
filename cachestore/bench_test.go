package cachestore_test

import (
	"bytes"
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/internal/cachekey"
)

var token = bytes.Repeat([]byte("t"), 1600)

// BenchmarkKeyRing measures sealing and opening a token-sized value.
func BenchmarkKeyRing(b *testing.B) {
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	aad := []byte(cachekey.NewBuilder("https://login.microsoftonline.com", "client", "tenant").Token(cachekey.App, "tenant", []string{"api://x/.default"}, ""))
	sealed := ring.Seal(token, aad)
	b.Run("seal", func(b *testing.B) {
		b.SetBytes(int64(len(token)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			ring.Seal(token, aad)
		}
	})
	b.Run("open", func(b *testing.B) {
		b.SetBytes(int64(len(token)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := ring.Open(sealed, aad); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkL1MemoryPerEntry reports the heap an L1 entry costs beyond its
// value bytes (key, entry, map and ring overhead), with the keys the token
// engine builds for users' tokens (the longest kind after OBO's, which has
// the same shape): an Entra authority, client and tenant, a scope of an
// API named by its GUID, the partition's digest.
func BenchmarkL1MemoryPerEntry(b *testing.B) {
	const n = 100_000
	for i := 0; i < b.N; i++ {
		values := make([][]byte, n)
		for j := range values {
			values[j] = bytes.Clone(token)
		}
		kb := cachekey.NewBuilder("https://login.microsoftonline.com", "11111111-0000-4000-8000-000000000001", "c0ffee00-0000-4000-8000-000000000001")
		scopes := []string{"api://22222222-0000-4000-8000-000000000002/access_as_user"}
		partitions := make([]string, n) // the engine's digests live in its sessions, not in the cache
		for j := range partitions {
			partitions[j] = cachekey.Digest(strconv.Itoa(j))
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m := cachestore.NewMemory(cachestore.MemoryOptions{MaxBytes: 4 << 30})
		keyBytes := 0
		for j := 0; j < n; j++ { // each key allocated as the engine allocates it for Set
			key := kb.Token(cachekey.User, "c0ffee00-0000-4000-8000-000000000001", scopes, partitions[j])
			keyBytes += len(key)
			m.Set(context.Background(), key, values[j], time.Hour)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B-beyond-value/entry")
		b.ReportMetric(float64(keyBytes)/n, "key-B/entry") // of which the key's bytes
		runtime.KeepAlive(m)
		runtime.KeepAlive(values)
		runtime.KeepAlive(partitions)
	}
}
