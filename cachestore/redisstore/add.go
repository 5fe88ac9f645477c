package redisstore

import (
	"context"
	"time"
)

// Add stores value under key only when the key holds nothing (SET NX PX),
// and reports whether it did (cachestore.Adder). ttl <= 0 means
// DefaultTTL: the key always expires.
func (s *Store) Add(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	ctx, cancel := s.cmdCtx(ctx)
	defer cancel()
	if ttl <= 0 {
		ttl = s.opts.DefaultTTL
	}
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	return s.rdb.SetNX(ctx, s.opts.Prefix+key, value, ttl).Result()
}
