package cachestore_test

import (
	"bytes"
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
)

var token = bytes.Repeat([]byte("t"), 1600)

// BenchmarkKeyRing measures sealing and opening a token-sized value.
func BenchmarkKeyRing(b *testing.B) {
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	aad := []byte("idw1|https://login.microsoftonline.com|client|A|tenant|api://x/.default|")
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
// value bytes (key, entry, map and ring overhead), with keys of the length
// the token engine builds.
func BenchmarkL1MemoryPerEntry(b *testing.B) {
	const n = 100_000
	for i := 0; i < b.N; i++ {
		values := make([][]byte, n)
		for j := range values {
			values[j] = bytes.Clone(token)
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m := cachestore.NewMemory(cachestore.MemoryOptions{MaxBytes: 4 << 30})
		for j := 0; j < n; j++ {
			key := "idw1|https://login.microsoftonline.com|11111111-0000-4000-8000-000000000001|U|c0ffee00-0000-4000-8000-000000000001|api://x/access_as_user|" + strconv.Itoa(j)
			m.Set(context.Background(), key, values[j], time.Hour)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B-beyond-value/entry")
		runtime.KeepAlive(m)
		runtime.KeepAlive(values)
	}
}
