package cachestore

import (
	"context"
	"time"
)

// Store is a byte store for cache entries. Implementations are safe for
// concurrent use.
//
// Contract:
//   - Get returns (value, true, nil) for a live entry and (nil, false, nil)
//     when there is none (missing or expired): not found is not an error.
//     err is for system faults only (a dead Redis, a timeout). The returned
//     slice must not be modified by the caller; stores may share it.
//   - Set stores value under key for ttl (ttl <= 0: the store's default
//     bound). The store may keep value without copying: callers must not
//     modify it afterwards.
//   - Delete removes key; deleting a missing key is not an error.
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

// Locker is implemented by stores that can lock across instances (Redis).
// Lock waits for the named lock until ctx ends (then it returns ctx's
// error); the lease lasts ttl and is renewed while held, so a crashed holder
// frees it after ttl.
type Locker interface {
	Lock(ctx context.Context, name string, ttl time.Duration) (Unlocker, error)
}

// Unlocker releases a lock; releasing a lock that was lost (its lease
// expired) deletes nothing another holder owns.
type Unlocker interface {
	Unlock(ctx context.Context) error
}

// Invalidator is implemented by shared stores that carry invalidation
// messages between instances (Redis pub/sub). Subscribe runs until ctx ends:
// it calls onMessage for each message and onResubscribe after the
// subscription was lost and restored (messages may have been missed then).
type Invalidator interface {
	Publish(ctx context.Context, payload []byte) error
	Subscribe(ctx context.Context, onMessage func(payload []byte), onResubscribe func()) error
}
