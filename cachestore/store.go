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
