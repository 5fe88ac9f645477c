package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options configure a Store; the zero value is usable.
type Options struct {
	// Prefix starts every key, so one Redis can serve several apps.
	// Default: "identityweb:".
	Prefix string
	// Channel is the pub/sub channel of invalidations. Default: Prefix +
	// "invalidations".
	Channel string
	// DefaultTTL applies to Set calls without a TTL. Default: 24 hours.
	DefaultTTL time.Duration
	// LockPoll is how often a waiter retries a held lock. Default: 20 ms
	// (jittered).
	LockPoll time.Duration
}

// Store is a cachestore.Store on Redis through redis.UniversalClient: a
// single server, Sentinel (failover) and Cluster all work. Keys expire with
// their values (SET PX). It also locks (cachestore.Locker) and carries
// invalidations (cachestore.Invalidator).
//
// Wrap it in cachestore.NewEncrypted before use as an L2: this store writes
// keys and values as given.
type Store struct {
	rdb  redis.UniversalClient
	opts Options
}

// New returns a Store on rdb. Create rdb with ContextTimeoutEnabled so that
// the L2 timeouts of cachestore.Tiered bound every call.
func New(rdb redis.UniversalClient, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = "identityweb:"
	}
	if opts.Channel == "" {
		opts.Channel = opts.Prefix + "invalidations"
	}
	if opts.DefaultTTL <= 0 {
		opts.DefaultTTL = 24 * time.Hour
	}
	if opts.LockPoll <= 0 {
		opts.LockPoll = 20 * time.Millisecond
	}
	return &Store{rdb: rdb, opts: opts}
}

// NewFromURL connects to the Redis of a URL — redis://[user:password@]host:port/db
// or rediss:// for TLS, as redis.ParseURL reads it; a URL with several
// "addr" parameters (redis://h1:p1?addr=h2:p2&addr=h3:p3) is a Cluster, as
// redis.ParseClusterURL reads it.
func NewFromURL(rawURL string, opts Options) (*Store, error) {
	if o, err := redis.ParseURL(rawURL); err == nil && !hasAddrParam(rawURL) {
		o.ContextTimeoutEnabled = true
		return New(redis.NewClient(o), opts), nil
	}
	co, err := redis.ParseClusterURL(rawURL)
	if err != nil {
		return nil, errors.New("redisstore: the Redis URL is not valid (redis://host:port/db, rediss://…, or a cluster URL with addr=…)")
	}
	co.ContextTimeoutEnabled = true
	return New(redis.NewClusterClient(co), opts), nil
}

func hasAddrParam(u string) bool {
	for i := 0; i+5 <= len(u); i++ {
		if u[i:i+5] == "addr=" && i > 0 && (u[i-1] == '?' || u[i-1] == '&') {
			return true
		}
	}
	return false
}

// Client returns the underlying client.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// Close closes the client.
func (s *Store) Close() error { return s.rdb.Close() }

// Get returns the value under key; not found is (nil, false, nil).
func (s *Store) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b, err := s.rdb.Get(ctx, s.opts.Prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// GetWithTTL returns the value and its remaining TTL in one round trip.
func (s *Store) GetWithTTL(ctx context.Context, key string) ([]byte, time.Duration, bool, error) {
	k := s.opts.Prefix + key
	var get *redis.StringCmd
	var ttl *redis.DurationCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, k)
		ttl = p.PTTL(ctx, k)
		return nil
	})
	if errors.Is(err, redis.Nil) || errors.Is(get.Err(), redis.Nil) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, err
	}
	b, _ := get.Bytes()
	d := ttl.Val()
	if d <= 0 { // no expiry (-1) or gone (-2)
		d = s.opts.DefaultTTL
	}
	return b, d, true, nil
}

// Set stores value under key for ttl.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		ttl = s.opts.DefaultTTL
	}
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	return s.rdb.Set(ctx, s.opts.Prefix+key, value, ttl).Err()
}

// Delete removes key.
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.rdb.Del(ctx, s.opts.Prefix+key).Err()
}
