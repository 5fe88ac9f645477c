package cachestore

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"log/slog"
	"sync/atomic"
	"time"
)

// Encrypted wraps a shared store (Redis) so that it never holds a token,
// session id or user id in clear: keys are replaced by their SHA-256 and
// values are sealed with a KeyRing, the original key as additional data. A
// value that does not open (corrupt, truncated, foreign, moved to another
// key, or sealed with a retired key) is a miss and a warning, never an error.
type Encrypted struct {
	inner  Store
	ring   *KeyRing
	clock  Clock
	logger *slog.Logger
	failed atomic.Int64
	// badMessages counts invalidation messages that did not open.
	badMessages atomic.Int64
}

// EncryptedOptions configure an Encrypted store; the zero value is usable.
type EncryptedOptions struct {
	// Clock. Default: the system clock.
	Clock Clock
	// Logger receives a warning per value that does not open. Default: slog.Default().
	Logger *slog.Logger
}

// NewEncrypted returns inner wrapped with ring.
func NewEncrypted(inner Store, ring *KeyRing, opts EncryptedOptions) *Encrypted {
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Encrypted{inner: inner, ring: ring, clock: opts.Clock, logger: opts.Logger}
}

// HashKey is the key the inner store sees for key.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "k:" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// Get returns the decrypted value under key.
func (e *Encrypted) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, _, ok, err := e.GetWithTTL(ctx, key)
	return v, ok, err
}

// GetWithTTL returns the value and its remaining lifetime (sealed with it).
func (e *Encrypted) GetWithTTL(ctx context.Context, key string) ([]byte, time.Duration, bool, error) {
	b, ok, err := e.inner.Get(ctx, HashKey(key))
	if err != nil || !ok {
		return nil, 0, false, err
	}
	pt, err := e.ring.Open(b, []byte(key))
	if err != nil || len(pt) < 8 {
		e.failed.Add(1)
		e.logger.LogAttrs(ctx, slog.LevelWarn, "cachestore: ignoring a cache value that does not decrypt (corrupt, moved, or sealed with a retired key)")
		return nil, 0, false, nil
	}
	left := time.Unix(0, int64(binary.LittleEndian.Uint64(pt))).Sub(e.clock.Now())
	if left <= 0 {
		return nil, 0, false, nil
	}
	return pt[8:], left, true, nil
}

// Set seals value (with its expiry) and stores it under the hashed key.
func (e *Encrypted) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	return e.inner.Set(ctx, HashKey(key), e.seal(key, value, ttl), ttl)
}

// seal encrypts value with its expiry, bound to key.
func (e *Encrypted) seal(key string, value []byte, ttl time.Duration) []byte {
	pt := make([]byte, 8+len(value))
	binary.LittleEndian.PutUint64(pt, uint64(e.clock.Now().Add(ttl).UnixNano()))
	copy(pt[8:], value)
	return e.ring.Seal(pt, []byte(key))
}

// Add seals value and adds it under the hashed key when the inner store
// can add (an error otherwise).
func (e *Encrypted) Add(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	a, ok := e.inner.(Adder)
	if !ok {
		return false, errNoAdder
	}
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	return a.Add(ctx, HashKey(key), e.seal(key, value, ttl), ttl)
}

// Delete removes key.
func (e *Encrypted) Delete(ctx context.Context, key string) error {
	return e.inner.Delete(ctx, HashKey(key))
}

// DecryptFailures counts values that did not open.
func (e *Encrypted) DecryptFailures() int64 { return e.failed.Load() }

// Lock locks the hashed name in the inner store, if it can lock.
func (e *Encrypted) Lock(ctx context.Context, name string, ttl time.Duration) (Unlocker, error) {
	l, ok := e.inner.(Locker)
	if !ok {
		return nil, errNoLocker
	}
	return l.Lock(ctx, HashKey(name), ttl)
}

var invalidationAAD = []byte("identityweb invalidation")

// Publish seals payload and publishes it through the inner store.
func (e *Encrypted) Publish(ctx context.Context, payload []byte) error {
	inv, ok := e.inner.(Invalidator)
	if !ok {
		return errNoInvalidator
	}
	return inv.Publish(ctx, e.ring.Seal(payload, invalidationAAD))
}

// Subscribe receives sealed payloads from the inner store and opens them.
// A message that does not open — typically sent by an instance whose key
// ring has a newer first key, during a rotation's rollout — may have
// invalidated any key, so it is treated as missed messages are: it calls
// onResubscribe (Tiered then checks its L1 against L2) and logs a warning
// (at the 1st, 2nd, 4th, 8th… occurrence).
func (e *Encrypted) Subscribe(ctx context.Context, onMessage func([]byte), onResubscribe func()) error {
	inv, ok := e.inner.(Invalidator)
	if !ok {
		return errNoInvalidator
	}
	return inv.Subscribe(ctx, func(b []byte) {
		pt, err := e.ring.Open(b, invalidationAAD)
		if err == nil {
			onMessage(pt)
			return
		}
		if n := e.badMessages.Add(1); n&(n-1) == 0 {
			e.logger.LogAttrs(ctx, slog.LevelWarn, "cachestore: an invalidation message does not decrypt (do the instances share the key ring?); checking L1 against L2",
				slog.Int64("count", n))
		}
		if onResubscribe != nil {
			onResubscribe()
		}
	}, onResubscribe)
}

// Unwrap returns the inner store.
func (e *Encrypted) Unwrap() Store { return e.inner }
