package cachestore_test

import (
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/internal/storetest"
)

func TestMemoryStoreContract(t *testing.T) {
	clk := iwt.NewClock(time.Unix(1_700_000_000, 0))
	storetest.Run(t, storetest.Harness{
		New:     func(*testing.T) cachestore.Store { return cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk}) },
		Advance: clk.Advance,
	})
}

func TestEncryptedOverMemoryContract(t *testing.T) {
	clk := iwt.NewClock(time.Unix(1_700_000_000, 0))
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	storetest.Run(t, storetest.Harness{
		New: func(*testing.T) cachestore.Store {
			return cachestore.NewEncrypted(cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk}), ring, cachestore.EncryptedOptions{Clock: clk})
		},
		Advance: clk.Advance,
	})
}

func TestTieredOverMemoryContract(t *testing.T) {
	clk := iwt.NewClock(time.Unix(1_700_000_000, 0))
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) cachestore.Store {
			tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk}),
				cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk}), cachestore.TieredOptions{Clock: clk})
			t.Cleanup(func() { tr.Close() })
			return tr
		},
		Advance: clk.Advance,
	})
}

func TestTieredAsyncOverMemoryContract(t *testing.T) {
	clk := iwt.NewClock(time.Unix(1_700_000_000, 0))
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) cachestore.Store {
			tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk}),
				cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk}), cachestore.TieredOptions{Clock: clk, AsyncWrites: true})
			t.Cleanup(func() { tr.Close() })
			return tr
		},
		Advance: clk.Advance,
	})
}
