package cachestore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

var (
	errNoLocker      = errors.New("cachestore: the store cannot lock")
	errNoInvalidator = errors.New("cachestore: the store carries no invalidations")
	// ErrL2Unavailable is returned by Lock while the L2 circuit is open.
	ErrL2Unavailable = errors.New("cachestore: the L2 store is unavailable")
)

// TieredOptions configure a Tiered store; the zero value is usable.
type TieredOptions struct {
	// L2Timeout bounds each L2 operation. Default: 250 ms.
	L2Timeout time.Duration
	// CircuitBreak is how long L2 is left alone after a failure, so a dead
	// Redis does not add its timeout to every request. Default: 2 s.
	CircuitBreak time.Duration
	// MaxL1TTL caps how long L1 keeps an entry. Default: no cap beyond the
	// entry's own TTL (coherence comes from invalidations).
	MaxL1TTL time.Duration
	// AsyncWrites writes L2 in the background (a bounded queue; when it is
	// full the write is dropped and counted). Default: write-through.
	AsyncWrites bool
	// OnL2Failure is called for every L2 failure (as Identity Web's
	// OnL2CacheFailure), with the operation: "get", "set", "delete",
	// "publish", "lock".
	OnL2Failure func(op string, err error)
	// DisableInvalidation turns off cross-instance invalidation.
	DisableInvalidation bool
	// Logger receives warnings about L2 failures (rate-limited by the
	// circuit). Default: slog.Default().
	Logger *slog.Logger
	// Clock. Default: the system clock.
	Clock Clock
}

// Tiered reads L1 then L2, filling L1 from L2 with a TTL no longer than L2's;
// it writes and deletes through both. L2 failures never fail a call: they
// are logged, counted and reported to OnL2Failure, and L2 is left alone for
// CircuitBreak, after which it is tried again by itself.
//
// Coherence across instances: every Set and Delete publishes the key
// (sealed when L2 is Encrypted) and other instances drop it from their L1,
// within the pub/sub delivery time — milliseconds on a healthy Redis. When
// the subscription is lost and restored, messages may have been missed, so
// the whole L1 is cleared. While Redis is unreachable an instance serves
// what its own L1 holds: availability first, as intended.
type Tiered struct {
	l1       *Memory
	l2       Store
	opts     TieredOptions
	id       []byte // this instance, to ignore its own invalidations
	openTill atomic.Int64
	failures atomic.Int64
	dropped  atomic.Int64
	queue    chan func()
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// NewTiered returns a store over l1 and l2 and, when l2 carries
// invalidations, subscribes to them until Close.
func NewTiered(l1 *Memory, l2 Store, opts TieredOptions) *Tiered {
	if opts.L2Timeout <= 0 {
		opts.L2Timeout = 250 * time.Millisecond
	}
	if opts.CircuitBreak <= 0 {
		opts.CircuitBreak = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	id := make([]byte, 16)
	rand.Read(id)
	t := &Tiered{l1: l1, l2: l2, opts: opts, id: []byte(hex.EncodeToString(id))}
	ctx, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	if opts.AsyncWrites {
		t.queue = make(chan func(), 1024)
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			for {
				select {
				case f := <-t.queue:
					f()
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	if inv, ok := l2.(Invalidator); ok && !opts.DisableInvalidation {
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			inv.Subscribe(ctx, t.onInvalidation, t.l1.Clear)
		}()
	}
	return t
}

// Close stops the subscription and the async writer.
func (t *Tiered) Close() error {
	t.cancel()
	t.wg.Wait()
	return nil
}

// L2Failures counts L2 failures since the start.
func (t *Tiered) L2Failures() int64 { return t.failures.Load() }

// DroppedWrites counts async L2 writes dropped because the queue was full.
func (t *Tiered) DroppedWrites() int64 { return t.dropped.Load() }

func (t *Tiered) l2Open() bool { return t.opts.Clock.Now().UnixNano() >= t.openTill.Load() }

func (t *Tiered) fail(ctx context.Context, op string, err error) {
	t.failures.Add(1)
	first := t.l2Open()
	t.openTill.Store(t.opts.Clock.Now().Add(t.opts.CircuitBreak).UnixNano())
	if first { // one warning per circuit opening
		t.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "cachestore: L2 failed; serving from L1 and the identity provider, L2 paused",
			slog.String("op", op), slog.String("error", err.Error()), slog.Duration("pause", t.opts.CircuitBreak))
	}
	if t.opts.OnL2Failure != nil {
		t.opts.OnL2Failure(op, err)
	}
}

func (t *Tiered) l2ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), t.opts.L2Timeout)
}

// Get returns the value from L1, else from L2.
func (t *Tiered) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, _, ok, err := t.GetLevel(ctx, key)
	return v, ok, err
}

// GetLevel is Get that also says which level answered.
func (t *Tiered) GetLevel(ctx context.Context, key string) ([]byte, Level, bool, error) {
	if v, ok := t.l1.Lookup(key); ok {
		return v, LevelL1, true, nil
	}
	v, ok := t.getL2(ctx, key)
	if !ok {
		return nil, 0, false, nil
	}
	return v, LevelL2, true, nil
}

// GetFresh reads L2, bypassing L1 (falling back to L1 when L2 is down).
func (t *Tiered) GetFresh(ctx context.Context, key string) ([]byte, bool, error) {
	if !t.l2Open() {
		v, ok := t.l1.Lookup(key)
		return v, ok, nil
	}
	if v, ok := t.getL2(ctx, key); ok {
		return v, true, nil
	}
	if !t.l2Open() { // it just failed
		v, ok := t.l1.Lookup(key)
		return v, ok, nil
	}
	t.l1.Delete(ctx, key) // L2 says it is gone
	return nil, false, nil
}

func (t *Tiered) getL2(ctx context.Context, key string) ([]byte, bool) {
	if !t.l2Open() {
		return nil, false
	}
	c, cancel := t.l2ctx(ctx)
	defer cancel()
	var v []byte
	var ttl time.Duration
	var ok bool
	var err error
	if tg, isTTL := t.l2.(TTLGetter); isTTL {
		v, ttl, ok, err = tg.GetWithTTL(c, key)
	} else {
		v, ok, err = t.l2.Get(c, key)
		ttl = time.Minute // unknown: keep it briefly
	}
	if err != nil {
		t.fail(ctx, "get", err)
		return nil, false
	}
	if !ok {
		return nil, false
	}
	if t.opts.MaxL1TTL > 0 && ttl > t.opts.MaxL1TTL {
		ttl = t.opts.MaxL1TTL
	}
	t.l1.Set(ctx, key, v, ttl)
	return v, true
}

// Set writes L1 and L2 (L2 in the background with AsyncWrites) and tells
// other instances.
func (t *Tiered) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	l1ttl := ttl
	if t.opts.MaxL1TTL > 0 && (l1ttl <= 0 || l1ttl > t.opts.MaxL1TTL) {
		l1ttl = t.opts.MaxL1TTL
	}
	t.l1.Set(ctx, key, value, l1ttl)
	t.toL2(ctx, "set", key, func(c context.Context) error { return t.l2.Set(c, key, value, ttl) })
	return nil
}

// Delete removes key from both levels and tells other instances.
func (t *Tiered) Delete(ctx context.Context, key string) error {
	t.l1.Delete(ctx, key)
	t.toL2(ctx, "delete", key, func(c context.Context) error { return t.l2.Delete(c, key) })
	return nil
}

func (t *Tiered) toL2(ctx context.Context, op, key string, write func(context.Context) error) {
	do := func() {
		if !t.l2Open() {
			return
		}
		c, cancel := t.l2ctx(ctx)
		defer cancel()
		if err := write(c); err != nil {
			t.fail(ctx, op, err)
			return
		}
		t.publish(c, key)
	}
	if t.queue == nil {
		do()
		return
	}
	select {
	case t.queue <- do:
	default:
		t.dropped.Add(1)
	}
}

func (t *Tiered) publish(ctx context.Context, key string) {
	inv, ok := t.l2.(Invalidator)
	if !ok || t.opts.DisableInvalidation {
		return
	}
	msg := make([]byte, 0, len(t.id)+1+len(key))
	msg = append(append(append(msg, t.id...), '\n'), key...)
	if err := inv.Publish(ctx, msg); err != nil {
		t.fail(ctx, "publish", err)
	}
}

func (t *Tiered) onInvalidation(msg []byte) {
	id, key, ok := bytes.Cut(msg, []byte{'\n'})
	if !ok || bytes.Equal(id, t.id) {
		return
	}
	t.l1.Delete(context.Background(), string(key))
}

// Lock takes a lock in L2 when it can lock; while L2 is unavailable it
// returns ErrL2Unavailable at once.
func (t *Tiered) Lock(ctx context.Context, name string, ttl time.Duration) (Unlocker, error) {
	l, ok := t.l2.(Locker)
	if !ok {
		return nil, errNoLocker
	}
	if !t.l2Open() {
		return nil, ErrL2Unavailable
	}
	u, err := l.Lock(ctx, name, ttl)
	if err != nil && ctx.Err() == nil {
		t.fail(ctx, "lock", err)
	}
	return u, err
}
