package cachestore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
)

// The L1: a bounded in-memory store with TTLs.
func ExampleNewMemory() {
	ctx := context.Background()
	m := cachestore.NewMemory(cachestore.MemoryOptions{MaxBytes: 64 << 20})
	m.Set(ctx, "key", []byte("value"), time.Minute)
	v, ok, err := m.Get(ctx, "key")
	fmt.Println(string(v), ok, err)
	_, ok, err = m.Get(ctx, "missing") // not found is not an error
	fmt.Println(ok, err)
	// Output:
	// value true <nil>
	// false <nil>
}

// Values sealed with a key ring, keys hashed: what a shared L2 sees.
func ExampleNewEncrypted() {
	ctx := context.Background()
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	shared := cachestore.NewMemory(cachestore.MemoryOptions{}) // stands for Redis
	enc := cachestore.NewEncrypted(shared, ring, cachestore.EncryptedOptions{})
	enc.Set(ctx, "alice|token", []byte("secret token"), time.Hour)
	_, inClear, _ := shared.Get(ctx, "alice|token")
	v, _, _ := enc.Get(ctx, "alice|token")
	fmt.Println(inClear, string(v))
	// Output: false secret token
}

// L1 in front of a shared L2; an L2 failure never fails a call.
func ExampleNewTiered() {
	ctx := context.Background()
	l2 := cachestore.NewMemory(cachestore.MemoryOptions{}) // stands for Redis
	t := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{}), l2, cachestore.TieredOptions{})
	defer t.Close()
	t.Set(ctx, "k", []byte("v"), time.Hour)
	_, level, ok, _ := t.GetLevel(ctx, "k")
	fmt.Println(ok, level == cachestore.LevelL1)
	_, inL2, _ := l2.Get(ctx, "k")
	fmt.Println(inL2)
	// Output:
	// true true
	// true
}

// Add stores a value only when the key holds none (SET NX): a replay
// store, where the first use of an id wins.
func ExampleMemory_Add() {
	m := cachestore.NewMemory(cachestore.MemoryOptions{})
	ctx := context.Background()
	first, _ := m.Add(ctx, "jti:abc", []byte{1}, time.Minute)
	again, _ := m.Add(ctx, "jti:abc", []byte{1}, time.Minute)
	fmt.Println(first, again)
	// Output: true false
}
