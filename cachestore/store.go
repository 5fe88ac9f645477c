package cachestore

import (
	"context"
	"errors"
	"time"
)

// Store is a byte store for cache entries. Implementations are safe for
// concurrent use.
//
// Contract:
//   - Get returns (value, true, nil) for a live entry and (nil, false, nil)
//     when there is none (missing or expired): not found is not an error.
//     err is for system faults only (a dead Redis, a timeout).
//   - Set stores value under key for ttl (ttl <= 0: the store's default
//     bound). Delete removes key; deleting a missing key is not an error.
//
// Value buffers are immutable once they cross this interface, in either
// direction, so that a hit can be served without a copy (the token engine
// returns an access token as a string sharing the bytes Get returned):
//   - The slice Get returns belongs to the caller for as long as it keeps
//     it: the store never modifies it afterwards — not on a later Set,
//     Delete, eviction, expiry or Clear of that key or any other, and it
//     never reuses it (no pooling of returned buffers). Stores may return
//     the same slice to several callers, so callers must not modify it
//     either.
//   - The slice given to Set is only read by the store: it never writes
//     into it. It may keep the slice itself (no copy) and return it from
//     later Gets, so the caller must not modify it after Set either.
//
// internal/storetest checks both rules for every store.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Delete(ctx context.Context, key string) error
}

// Clock tells the time; stores take one so that tests can move TTLs without
// sleeping.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Level is the cache level that answered a Get.
type Level uint8

// Cache levels.
const (
	LevelL1 Level = 1
	LevelL2 Level = 2
)

// Leveled is implemented by stores with several levels (Tiered) to report
// which level answered, for the token metadata.
type Leveled interface {
	GetLevel(ctx context.Context, key string) ([]byte, Level, bool, error)
}

// TTLGetter is implemented by stores that can tell how long a value has
// left to live, so that Tiered never keeps an L2 value in L1 longer than L2
// keeps it.
type TTLGetter interface {
	GetWithTTL(ctx context.Context, key string) ([]byte, time.Duration, bool, error)
}

// FreshGetter is implemented by stores with a local level (Tiered): GetFresh
// reads the shared level, bypassing a local copy that another instance may
// just have replaced. The token engine uses it under the refresh lock.
type FreshGetter interface {
	GetFresh(ctx context.Context, key string) ([]byte, bool, error)
}

// KnownGetter is implemented by stores with a local level (Tiered) whose
// Get answers "not found" when the shared level cannot be reached and the
// local one lacks the key (availability first: the token engine then asks
// the provider). GetKnown does not guess: it returns ErrL2Unavailable
// instead, since the key may well be in the shared level (an invalidation
// dropped the local copy of a value another instance replaced). The
// session check uses it: a session whose record cannot be read is "retry
// later", not "signed out".
type KnownGetter interface {
	GetKnown(ctx context.Context, key string) ([]byte, bool, error)
}

// Adder is implemented by stores that can store a value only when its key
// is absent, atomically for every instance sharing the store (Redis SET
// NX): replay stores (DPoP proofs, logout tokens) use it so a value seen by
// one instance is refused by all. added is false when the key was there.
// Every key added expires after ttl.
type Adder interface {
	Add(ctx context.Context, key string, value []byte, ttl time.Duration) (added bool, err error)
}

// Locker is implemented by stores that can lock across instances (Redis).
// Lock waits for the named lock until ctx ends (then it returns ctx's
// error); the lease lasts ttl and is renewed while held, so a crashed holder
// frees it after ttl.
//
// What "held" guarantees: at most one holder at a time as long as the lock
// store keeps its data. A Redis failover can lose a lock whose write had
// not reached the replica that is promoted; redisstore.Options.LockReplicas
// closes that gap (the lock counts as taken only once replicas acknowledged
// it, else Lock returns ErrLockNotReplicated). A lease can also be lost
// while held (a pause longer than ttl, renewals failing): holders that are
// about to do something that must happen once — spend a rotating refresh
// token — check Lease.Held first when the Unlocker implements it.
type Locker interface {
	Lock(ctx context.Context, name string, ttl time.Duration) (Unlocker, error)
}

// Unlocker releases a lock; releasing a lock that was lost (its lease
// expired) deletes nothing another holder owns.
type Unlocker interface {
	Unlock(ctx context.Context) error
}

// Lease is implemented by Unlockers that can confirm the lock is still
// theirs: Held returns nil when it is, ErrLockLost when the lease expired or
// another holder has the lock, or the store's error when it cannot tell
// (treat that as not held).
type Lease interface {
	Held(ctx context.Context) error
}

var (
	// ErrLockNotReplicated is returned by Lock when the lock was taken on
	// the master but not acknowledged by the required replicas in time: it
	// could vanish in a failover, so it is released and not held.
	ErrLockNotReplicated = errors.New("cachestore: the lock was not acknowledged by the replicas")
	// ErrLockLost is returned by Lease.Held when the lease expired or
	// another holder has the lock.
	ErrLockLost = errors.New("cachestore: the lock is no longer held")
)

// Invalidator is implemented by shared stores that carry invalidation
// messages between instances (Redis pub/sub). Subscribe runs until ctx ends:
// it calls onMessage for each message and onResubscribe after the
// subscription was lost and restored (messages may have been missed then).
type Invalidator interface {
	Publish(ctx context.Context, payload []byte) error
	Subscribe(ctx context.Context, onMessage func(payload []byte), onResubscribe func()) error
}
