package cachestore_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
)

func TestKeyRingRotation(t *testing.T) {
	ctx := context.Background()
	oldKey, newKey := cachestore.NewKey(), cachestore.NewKey()
	inner := cachestore.NewMemory(cachestore.MemoryOptions{})
	oldRing, _ := cachestore.NewKeyRing(oldKey)
	cachestore.NewEncrypted(inner, oldRing, cachestore.EncryptedOptions{}).Set(ctx, "k", []byte("written with the old key"), time.Hour)

	rotated, _ := cachestore.NewKeyRing(newKey, oldKey) // new key first, old kept
	enc := cachestore.NewEncrypted(inner, rotated, cachestore.EncryptedOptions{})
	if v, ok, _ := enc.Get(ctx, "k"); !ok || string(v) != "written with the old key" {
		t.Fatalf("old entry after rotation: %q %v", v, ok)
	}
	enc.Set(ctx, "k2", []byte("new"), time.Hour)
	// Once the old key is retired, its entries are misses, not errors.
	retired, _ := cachestore.NewKeyRing(newKey)
	enc2 := cachestore.NewEncrypted(inner, retired, cachestore.EncryptedOptions{})
	if v, ok, err := enc2.Get(ctx, "k"); ok || err != nil || v != nil {
		t.Fatalf("entry of a retired key: %q %v %v", v, ok, err)
	}
	if v, ok, _ := enc2.Get(ctx, "k2"); !ok || string(v) != "new" {
		t.Fatal("entry of the current key unreadable")
	}
	if enc2.DecryptFailures() != 1 {
		t.Fatalf("DecryptFailures = %d", enc2.DecryptFailures())
	}
}

func TestEntryMovedToAnotherKeyFails(t *testing.T) {
	ctx := context.Background()
	inner := cachestore.NewMemory(cachestore.MemoryOptions{})
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	enc := cachestore.NewEncrypted(inner, ring, cachestore.EncryptedOptions{})
	enc.Set(ctx, "partition-A|token", []byte("alice's token"), time.Hour)
	sealed, ok, _ := inner.Get(ctx, cachestore.HashKey("partition-A|token"))
	if !ok || bytes.Contains(sealed, []byte("alice")) {
		t.Fatal("value stored in clear")
	}
	inner.Set(ctx, cachestore.HashKey("partition-B|token"), sealed, time.Hour) // an attacker with Redis access
	if v, ok, err := enc.Get(ctx, "partition-B|token"); ok || err != nil {
		t.Fatalf("a value moved to another key opened: %q", v)
	}
}

func TestParseKeyRing(t *testing.T) {
	if _, err := cachestore.ParseKeyRing("c2hvcnQ="); err == nil {
		t.Fatal("a 5-byte key was accepted")
	}
	if _, err := cachestore.ParseKeyRing("%%%"); err == nil {
		t.Fatal("non-base64 accepted")
	}
	if _, err := cachestore.ParseKeyRing(""); err == nil {
		t.Fatal("an empty ring was accepted")
	}
	r, err := cachestore.ParseKeyRing("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=, AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")
	if err != nil {
		t.Fatal(err)
	}
	pt, err := r.Open(r.Seal([]byte("x"), []byte("aad")), []byte("aad"))
	if err != nil || string(pt) != "x" {
		t.Fatal(err)
	}
}

// FuzzOpen: arbitrary bytes under any key are a miss, never a panic.
func FuzzOpen(f *testing.F) {
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	f.Add(ring.Seal([]byte("value"), []byte("key")), "key")
	f.Add([]byte{1, 0, 0, 0, 0}, "k")
	f.Add([]byte{}, "")
	inner := cachestore.NewMemory(cachestore.MemoryOptions{})
	enc := cachestore.NewEncrypted(inner, ring, cachestore.EncryptedOptions{Logger: discard()})
	f.Fuzz(func(t *testing.T, b []byte, key string) {
		ring.Open(b, []byte(key))
		inner.Set(context.Background(), cachestore.HashKey(key), b, time.Hour)
		if _, _, err := enc.Get(context.Background(), key); err != nil {
			t.Fatal(err)
		}
	})
}
