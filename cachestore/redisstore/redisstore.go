package redisstore

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
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
	// DefaultTTL applies to Set calls without a TTL: no key is ever written
	// without one. Default: 24 hours.
	DefaultTTL time.Duration
	// Timeout bounds each command when the caller's context allows longer
	// or has no deadline: every step of Lock, lease renewals, Unlock,
	// Held, pub/sub pings, and direct use without cachestore.Tiered (whose
	// L2Timeout, 250 ms, is the tighter bound on the cache path). It only
	// takes effect when the client honours context deadlines
	// (ContextTimeoutEnabled, as NewFromURL sets). Default: 500 ms.
	Timeout time.Duration
	// LockPoll is how often a waiter retries a held lock. Default: 20 ms
	// (jittered).
	LockPoll time.Duration
	// LockReplicas is how many replicas must acknowledge a lock (WAIT)
	// before Lock counts it as held; a lock they do not acknowledge within
	// LockReplicaWait is released and Lock returns
	// cachestore.ErrLockNotReplicated. Set it to 1 with Sentinel or a
	// Cluster with replicas: without it a lock written on a master that dies
	// before replicating it is gone on the promoted replica, and a second
	// instance can take it. Needs a *redis.Client (single server or
	// Sentinel) or a *redis.ClusterClient. Default: 0 (no wait; right for a
	// single server).
	LockReplicas int
	// LockReplicaWait bounds the wait for LockReplicas acknowledgements.
	// Default: 100 ms.
	LockReplicaWait time.Duration
	// HealthCheck is how often a quiet invalidation subscription is checked
	// with a PING; one left unanswered for as long counts as a lost
	// subscription (a stalled or silently dead connection), which is then
	// replaced. Default: 1 s.
	HealthCheck time.Duration
	// Logger receives configuration warnings. Default: slog.Default().
	Logger *slog.Logger
}

// Store is a cachestore.Store on Redis through redis.UniversalClient: a
// single server, Sentinel (failover) and Cluster all work. Keys expire with
// their values (SET PX): every key this store writes — entries, locks — has
// a TTL. It also locks (cachestore.Locker) and carries invalidations
// (cachestore.Invalidator).
//
// Wrap it in cachestore.NewEncrypted before use as an L2: this store writes
// keys and values as given.
type Store struct {
	rdb  redis.UniversalClient
	opts Options
}

// New returns a Store on rdb. Create rdb with ContextTimeoutEnabled so that
// deadlines (cachestore.Tiered's L2Timeout, Options.Timeout) bound every
// call, a stalled Redis included; without it a call waits up to the
// client's ReadTimeout/WriteTimeout (go-redis: 5 s by default), and New
// logs a warning.
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
	if opts.Timeout <= 0 {
		opts.Timeout = 500 * time.Millisecond
	}
	if opts.LockPoll <= 0 {
		opts.LockPoll = 20 * time.Millisecond
	}
	if opts.LockReplicas < 0 {
		opts.LockReplicas = 0
	}
	if opts.LockReplicaWait <= 0 {
		opts.LockReplicaWait = 100 * time.Millisecond
	}
	if opts.HealthCheck <= 0 {
		opts.HealthCheck = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if honours, known := honoursDeadlines(rdb); known && !honours {
		opts.Logger.LogAttrs(context.Background(), slog.LevelWarn,
			"redisstore: the Redis client was created without ContextTimeoutEnabled; a stalled Redis will hold calls for the client's read/write timeout instead of the cache's deadlines")
	}
	return &Store{rdb: rdb, opts: opts}
}

// honoursDeadlines reports whether the client applies context deadlines to
// its socket reads and writes, when it can tell.
func honoursDeadlines(rdb redis.UniversalClient) (honours, known bool) {
	switch c := rdb.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled, true
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled, true
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled, true
	}
	return false, false
}

// NewFromURL connects to the Redis a URL names and returns a Store on it,
// with ContextTimeoutEnabled set:
//
//   - one server: redis://[user:password@]host:port/db, or rediss:// for
//     TLS (redis.ParseURL);
//   - Sentinel: the sentinels' addresses and the master's name,
//     redis://[user:password@]sentinel1:26379/db?master_name=mymaster&addr=sentinel2:26379&addr=sentinel3:26379
//     (redis.ParseFailoverURL; the user and password are the sentinels');
//   - Cluster: several "addr" parameters and no master_name,
//     redis://node1:6379?addr=node2:6379&addr=node3:6379
//     (redis.ParseClusterURL).
//
// go-redis's own query parameters (dial_timeout, read_timeout, pool_size…)
// are accepted as those functions read them.
func NewFromURL(rawURL string, opts Options) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return nil, errBadURL
	}
	q := u.Query()
	switch {
	case q.Has("master_name"):
		o, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, errBadURL
		}
		o.ContextTimeoutEnabled = true
		return New(redis.NewFailoverClient(o), opts), nil
	case q.Has("addr"):
		o, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, errBadURL
		}
		o.ContextTimeoutEnabled = true
		return New(redis.NewClusterClient(o), opts), nil
	}
	o, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, errBadURL
	}
	o.ContextTimeoutEnabled = true
	return New(redis.NewClient(o), opts), nil
}

var errBadURL = errors.New("redisstore: the Redis URL is not valid (redis://host:port/db, rediss://…, a Sentinel URL with master_name=…, or a cluster URL with addr=…)")

// Client returns the underlying client.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// Close closes the client.
func (s *Store) Close() error { return s.rdb.Close() }

// cmdCtx bounds one command by Options.Timeout unless ctx ends sooner.
func (s *Store) cmdCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return s.boundCtx(ctx, s.opts.Timeout)
}

func (s *Store) boundCtx(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// failed notes a command's error. A Cluster client only reloads its slot
// map every minute or on a redirection, and a dead master's connections
// fail (refused, timed out) before any node can redirect: after a failover
// it would keep sending a slot's commands to the dead node for up to a
// minute. Any error asks it to reload (go-redis coalesces the reloads).
func (s *Store) failed(err error) error {
	if err != nil && !errors.Is(err, redis.Nil) {
		if cc, ok := s.rdb.(*redis.ClusterClient); ok {
			cc.ReloadState(context.Background())
		}
	}
	return err
}

// Get returns the value under key; not found is (nil, false, nil).
func (s *Store) Get(ctx context.Context, key string) ([]byte, bool, error) {
	ctx, cancel := s.cmdCtx(ctx)
	defer cancel()
	b, err := s.rdb.Get(ctx, s.opts.Prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, s.failed(err)
	}
	return b, true, nil
}

// GetWithTTL returns the value and its remaining TTL in one round trip.
func (s *Store) GetWithTTL(ctx context.Context, key string) ([]byte, time.Duration, bool, error) {
	ctx, cancel := s.cmdCtx(ctx)
	defer cancel()
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
		return nil, 0, false, s.failed(err)
	}
	b, _ := get.Bytes()
	d := ttl.Val()
	if d <= 0 { // no expiry (-1) or gone (-2)
		d = s.opts.DefaultTTL
	}
	return b, d, true, nil
}

// Set stores value under key for ttl (ttl <= 0: DefaultTTL).
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	ctx, cancel := s.cmdCtx(ctx)
	defer cancel()
	if ttl <= 0 {
		ttl = s.opts.DefaultTTL
	}
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	return s.failed(s.rdb.Set(ctx, s.opts.Prefix+key, value, ttl).Err())
}

// Add stores value under key for ttl unless the key exists (SET NX PX).
func (s *Store) Add(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	ctx, cancel := s.cmdCtx(ctx)
	defer cancel()
	if ttl <= 0 {
		ttl = s.opts.DefaultTTL
	}
	added, err := s.rdb.SetNX(ctx, s.opts.Prefix+key, value, max(ttl, time.Millisecond)).Result()
	return added, s.failed(err)
}

// Delete removes key.
func (s *Store) Delete(ctx context.Context, key string) error {
	ctx, cancel := s.cmdCtx(ctx)
	defer cancel()
	return s.failed(s.rdb.Del(ctx, s.opts.Prefix+key).Err())
}
