package cachestore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// ErrNoLocker is returned by Lock of a store over one that cannot lock
	// (Tiered or Encrypted over a Memory): not a failure of the store.
	ErrNoLocker      = errors.New("cachestore: the store cannot lock")
	errNoAdder       = errors.New("cachestore: the store cannot add atomically")
	errNoInvalidator = errors.New("cachestore: the store carries no invalidations")
	// ErrL2Unavailable is returned by Lock while the L2 circuit is open, and
	// given to OnL2Failure for a delete or write deferred because of it.
	ErrL2Unavailable = errors.New("cachestore: the L2 store is unavailable")
)

// TieredOptions configure a Tiered store; the zero value is usable.
type TieredOptions struct {
	// L2Timeout bounds each L2 operation (a read, a write, a delete, an
	// invalidation publish, a lock release). A stalled Redis costs a Get at
	// most this long, and a Set or Delete (write, then publish) twice this,
	// once per circuit opening; then the circuit is open and calls skip L2.
	// Default: 250 ms.
	L2Timeout time.Duration
	// CircuitBreak is how long L2 is left alone after a failure, so a dead
	// Redis does not add its timeout to every request. When it is over, one
	// call probes L2 while the others still skip it; the probe's success
	// closes the circuit. Default: 2 s.
	CircuitBreak time.Duration
	// MaxL1TTL caps how long L1 keeps an entry. Default: no cap beyond the
	// entry's own TTL (coherence comes from invalidations).
	MaxL1TTL time.Duration
	// AsyncWrites writes L2 in the background (a bounded queue). A write or
	// delete that does not fit in the queue is not lost: it joins the
	// pending ones (see PendingDeletes). Default: write-through.
	AsyncWrites bool
	// OnL2Failure is called for every L2 failure (as Identity Web's
	// OnL2CacheFailure), with the operation: "get", "set", "delete",
	// "publish", "lock", "unlock". A delete or write that must be retried is
	// reported once per key (with ErrL2Unavailable when the circuit was
	// open), not at every retry.
	OnL2Failure func(op string, err error)
	// DisableInvalidation turns off cross-instance invalidation.
	DisableInvalidation bool
	// RetryMax bounds the back-off between retries of pending deletes and
	// writes while L2 keeps failing. Default: 5 s.
	RetryMax time.Duration
	// Logger receives warnings about L2 failures (one per circuit opening,
	// one per deferred delete). Default: slog.Default().
	Logger *slog.Logger
	// Clock. Default: the system clock.
	Clock Clock
}

// Tiered reads L1 then L2, filling L1 from L2 with a TTL no longer than L2's;
// it writes and deletes through both. L2 failures never fail a call: they
// are logged, counted and reported to OnL2Failure, and L2 is left alone for
// CircuitBreak, after which one call probes it and its use resumes by
// itself.
//
// Durable deletes and writes: a Delete (sign-out) or Set that cannot reach
// L2 — circuit open, Redis failing or stalled, async queue full — is never
// dropped. Its key joins a pending set, retried in the background with
// back-off until L2 confirms, then the invalidation is published so other
// instances drop their L1 copy. While a key is pending, this instance does
// not read it from L2 nor fill L1 from L2 for it: a pending delete is a
// miss at once (L1 included), a pending write is served from L1 only. A
// later Set of a key replaces its pending delete (the new value wins); a
// later Delete replaces its pending write; another instance's write of a
// key whose write is pending here wins over it (its invalidation drops
// ours), never over a pending delete. The pending set is a map keyed by
// cache key, so it is bounded by the distinct keys this instance deleted or
// wrote while L2 was unreachable: repeated operations on a key take one
// slot (about 100 bytes plus the key), and nothing is evicted from it
// (dropping an entry would lose a sign-out). Delete and Set return at once; PendingDeletes and
// PendingWrites count what waits. Close makes a last attempt and reports
// what could not be applied.
//
// L2 operations on one key are applied in the order this instance made
// them, so a deferred delete never lands after a later write of the key.
//
// Coherence across instances: every Set and Delete publishes the key
// (sealed when L2 is Encrypted) and other instances drop it from their L1,
// within the pub/sub delivery time — milliseconds on a healthy Redis. When
// the subscription is lost and restored (a restart, a failover, a stall),
// messages may have been missed, so every entry L1 held then is checked
// against L2 at its next read. While Redis is unreachable an instance
// serves what its own L1 holds: availability first, as intended.
type Tiered struct {
	l1       *Memory
	l2       Store
	opts     TieredOptions
	id       []byte // this instance, to ignore its own invalidations
	openTill atomic.Int64
	probing  atomic.Bool
	failures atomic.Int64
	dropped  atomic.Int64
	queue    chan func()
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	close    sync.Once
	closeErr error

	seed    maphash.Seed
	stripes [64]stripe

	pmu      sync.Mutex
	pending  map[string]*pendingOp
	gen      uint64
	nPending atomic.Int64
	nDeletes atomic.Int64
	kick     chan struct{}

	kmu  sync.Mutex
	busy map[string]chan struct{} // keys with an L2 operation in flight
}

// stripe orders L1 changes and L1 fills from L2 for the keys hashed to it:
// every change bumps seq, and a fill is dropped when seq moved during its L2
// read, so a value read before a Set, Delete or invalidation never lands in
// L1 after it.
type stripe struct {
	mu  sync.Mutex
	seq atomic.Uint64
}

// pendingOp is a key whose L2 copy is out of date: del says whether L2 must
// drop it (a delete) or receive the value L1 holds (a write; when L1 no
// longer holds one, L2 drops the key).
type pendingOp struct {
	del      bool
	gen      uint64
	reported bool
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
	if opts.RetryMax <= 0 {
		opts.RetryMax = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	id := make([]byte, 16)
	rand.Read(id)
	t := &Tiered{l1: l1, l2: l2, opts: opts, id: []byte(hex.EncodeToString(id)), seed: maphash.MakeSeed(),
		pending: map[string]*pendingOp{}, kick: make(chan struct{}, 1), busy: map[string]chan struct{}{}}
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
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.retryLoop(ctx)
	}()
	if inv, ok := l2.(Invalidator); ok && !opts.DisableInvalidation {
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			inv.Subscribe(ctx, t.onInvalidation, t.revalidateL1)
		}()
	}
	return t
}

// UnappliedError is returned by Close when deletes or writes could not reach
// L2 before it: their keys keep their old L2 value until its TTL ends.
type UnappliedError struct {
	Deletes, Writes int
}

func (e *UnappliedError) Error() string {
	return fmt.Sprintf("cachestore: %d deletes and %d writes could not reach L2 before Close", e.Deletes, e.Writes)
}

// Unwrap returns ErrL2Unavailable.
func (e *UnappliedError) Unwrap() error { return ErrL2Unavailable }

// Close stops the subscription, the async writer and the retries, then
// makes one last attempt to apply pending deletes and writes (each bounded
// by L2Timeout, stopping at the first failure). It returns an
// *UnappliedError when some remain. Calling it again returns the same
// result; the store must not be used after Close.
func (t *Tiered) Close() error {
	t.close.Do(func() {
		t.cancel()
		t.wg.Wait()
		if t.nPending.Load() == 0 {
			return
		}
		t.flush(context.Background(), true)
		if n := t.nPending.Load(); n > 0 {
			d := int(t.nDeletes.Load())
			t.closeErr = &UnappliedError{Deletes: d, Writes: int(n) - d}
			t.opts.Logger.LogAttrs(context.Background(), slog.LevelError, "cachestore: closing with deletes and writes that never reached L2; their keys keep their old L2 value until its TTL",
				slog.Int("deletes", d), slog.Int("writes", int(n)-d))
		}
	})
	return t.closeErr
}

// L1 returns the tiered store's local level: read-only use (LookupHandle)
// by a token engine that keeps hot entries decoded; writes go through the
// Tiered.
func (t *Tiered) L1() *Memory { return t.l1 }

// L2Failures counts L2 failures since the start.
func (t *Tiered) L2Failures() int64 { return t.failures.Load() }

// DroppedWrites counts async L2 writes and deletes that did not fit in the
// queue. They are not lost: they are applied with the pending ones.
func (t *Tiered) DroppedWrites() int64 { return t.dropped.Load() }

// PendingDeletes is the number of keys deleted on this instance whose L2
// delete has not been confirmed yet (this instance does not serve them).
func (t *Tiered) PendingDeletes() int { return int(t.nDeletes.Load()) }

// PendingWrites is the number of keys written on this instance whose L2
// write has not been confirmed yet (this instance serves them from L1 only).
func (t *Tiered) PendingWrites() int { return int(t.nPending.Load() - t.nDeletes.Load()) }

// --- circuit breaker ---

// acquire reports whether L2 may be used now: the circuit is closed, or its
// pause is over and the caller becomes the one probe (probe true: pass it
// to finish).
func (t *Tiered) acquire() (ok, probe bool) {
	till := t.openTill.Load()
	if till == 0 {
		return true, false
	}
	if t.opts.Clock.Now().UnixNano() < till || !t.probing.CompareAndSwap(false, true) {
		return false, false
	}
	return true, true
}

// finish records the outcome of an L2 call made after acquire.
func (t *Tiered) finish(ctx context.Context, probe bool, op string, err error, report bool) {
	if err != nil {
		t.fail(ctx, op, err, report)
	} else if probe {
		t.closeCircuit(ctx)
	}
	if probe {
		t.probing.Store(false)
	}
}

func (t *Tiered) closeCircuit(ctx context.Context) {
	if t.openTill.Swap(0) != 0 {
		t.opts.Logger.LogAttrs(ctx, slog.LevelInfo, "cachestore: L2 is back")
		t.nudge()
	}
}

func (t *Tiered) fail(ctx context.Context, op string, err error, report bool) {
	first := t.openTill.Swap(t.opts.Clock.Now().Add(t.opts.CircuitBreak).UnixNano()) == 0
	t.failures.Add(1) // after the circuit opened: a caller seeing the count sees the circuit
	if first {        // one warning per circuit opening
		t.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "cachestore: L2 failed; serving from L1 and the identity provider, L2 paused",
			slog.String("op", op), slog.String("error", err.Error()), slog.Duration("pause", t.opts.CircuitBreak))
	}
	if report && t.opts.OnL2Failure != nil {
		t.opts.OnL2Failure(op, err)
	}
}

func (t *Tiered) l2ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), t.opts.L2Timeout)
}

// --- reads ---

// Get returns the value from L1, else from L2.
func (t *Tiered) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, _, ok, err := t.GetLevel(ctx, key)
	return v, ok, err
}

// GetLevel is Get that also says which level answered.
func (t *Tiered) GetLevel(ctx context.Context, key string) ([]byte, Level, bool, error) {
	v, l, ok, err := t.getLevel(ctx, key)
	if errors.Is(err, ErrL2Unavailable) {
		return nil, 0, false, nil // availability first: "not found" (GetKnown says more)
	}
	return v, l, ok, err
}

// getLevel is GetLevel that returns ErrL2Unavailable when neither level can
// answer.
func (t *Tiered) getLevel(ctx context.Context, key string) ([]byte, Level, bool, error) {
	if v, born, ok := t.l1.lookupBorn(key); ok {
		if born > t.l1.staleUpTo.Load() {
			return v, LevelL1, true, nil
		}
		// Stored before a window in which invalidations may have been
		// missed: L2 decides, if it can answer.
		nv, found, reached := t.readL2(ctx, key, true)
		switch {
		case !reached:
			return v, LevelL1, true, nil // availability first
		case found:
			return nv, LevelL2, true, nil
		}
		return nil, 0, false, nil
	}
	v, found, reached := t.readL2(ctx, key, false)
	if !found {
		if !reached && !t.isPending(key) {
			return nil, 0, false, ErrL2Unavailable
		}
		return nil, 0, false, nil
	}
	return v, LevelL2, true, nil
}

// GetKnown is Get that says when it cannot tell (KnownGetter): when L1
// does not hold key and L2 cannot be reached it returns ErrL2Unavailable
// rather than "not found". A key whose write or delete is pending is
// answered by L1 alone (a pending delete: not found). A read that races
// the moment a pending delete is delivered may answer ErrL2Unavailable
// once: "cannot tell" is always the safe answer.
func (t *Tiered) GetKnown(ctx context.Context, key string) ([]byte, bool, error) {
	v, _, ok, err := t.getLevel(ctx, key)
	return v, ok, err
}

// GetFresh reads L2, bypassing L1 (falling back to L1 when L2 is down, and
// answering from L1 alone for a key whose delete or write is pending). When
// L2 cannot be reached and L1 does not hold the key, it returns
// ErrL2Unavailable: the key may well be in L2.
func (t *Tiered) GetFresh(ctx context.Context, key string) ([]byte, bool, error) {
	if t.isPending(key) {
		v, ok := t.l1.Lookup(key)
		return v, ok, nil
	}
	v, found, reached := t.readL2(ctx, key, true)
	if !reached {
		if v, ok := t.l1.Lookup(key); ok {
			return v, true, nil
		}
		// Neither level can say: absent here may be present in L2 (an
		// invalidation dropped the L1 copy of a value another instance
		// replaced), so "not found" would be a guess.
		return nil, false, ErrL2Unavailable
	}
	return v, found, nil
}

// readL2 reads key from L2 and fills L1 with it; reached is false when L2
// was not asked or failed. With dropOnMiss, an L2 miss also drops key from
// L1 (L2 says it is gone).
func (t *Tiered) readL2(ctx context.Context, key string, dropOnMiss bool) (v []byte, found, reached bool) {
	if t.isPending(key) {
		return nil, false, false
	}
	ok, probe := t.acquire()
	if !ok {
		return nil, false, false
	}
	st := t.stripe(key)
	seq := st.seq.Load()
	c, cancel := t.l2ctx(ctx)
	var ttl time.Duration
	var err error
	if tg, isTTL := t.l2.(TTLGetter); isTTL {
		v, ttl, found, err = tg.GetWithTTL(c, key)
	} else {
		v, found, err = t.l2.Get(c, key)
		ttl = time.Minute // unknown: keep it briefly
	}
	cancel()
	t.finish(ctx, probe, "get", err, true)
	if err != nil {
		return nil, false, false
	}
	if t.opts.MaxL1TTL > 0 && ttl > t.opts.MaxL1TTL {
		ttl = t.opts.MaxL1TTL
	}
	st.mu.Lock()
	if st.seq.Load() == seq && !t.isPending(key) { // nothing changed the key meanwhile
		if found {
			t.l1.Set(ctx, key, v, ttl)
		} else if dropOnMiss {
			t.l1.Delete(ctx, key)
		}
	}
	st.mu.Unlock()
	return v, found, true
}

// --- writes ---

// Set writes L1 and L2 (L2 in the background with AsyncWrites) and tells
// other instances. It replaces a pending delete of key.
func (t *Tiered) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	l1ttl := ttl
	if t.opts.MaxL1TTL > 0 && (l1ttl <= 0 || l1ttl > t.opts.MaxL1TTL) {
		l1ttl = t.opts.MaxL1TTL
	}
	st := t.stripe(key)
	st.mu.Lock()
	st.seq.Add(1)
	t.l1.Set(ctx, key, value, l1ttl)
	gen := t.mark(key, false)
	st.mu.Unlock()
	at := t.opts.Clock.Now()
	t.toL2(ctx, key, gen, "set", func(c context.Context) error {
		if ttl <= 0 {
			return t.l2.Set(c, key, value, ttl)
		}
		// Applied later (async queue): the entry keeps its deadline.
		left := ttl - t.opts.Clock.Now().Sub(at)
		if left <= 0 {
			return t.l2.Delete(c, key)
		}
		return t.l2.Set(c, key, value, left)
	})
	return nil
}

// Delete removes key from both levels and tells other instances. When L2
// cannot be reached, the delete is kept and retried until L2 confirms it
// (see Tiered); Delete itself never fails.
func (t *Tiered) Delete(ctx context.Context, key string) error {
	st := t.stripe(key)
	st.mu.Lock()
	st.seq.Add(1)
	t.l1.Delete(ctx, key)
	gen := t.mark(key, true)
	st.mu.Unlock()
	t.toL2(ctx, key, gen, "delete", func(c context.Context) error { return t.l2.Delete(c, key) })
	return nil
}

// toL2 applies a marked write or delete to L2: at once (write-through), or
// through the async queue. Whatever cannot be applied now stays pending.
func (t *Tiered) toL2(ctx context.Context, key string, gen uint64, op string, apply func(context.Context) error) {
	if t.queue == nil {
		t.apply(ctx, key, gen, op, apply, false)
		return
	}
	select {
	case t.queue <- func() { t.apply(ctx, key, gen, op, apply, true) }:
	default:
		t.dropped.Add(1)
		t.nudge()
	}
}

// apply runs one L2 write or delete of key now if L2 may be used, else
// leaves it pending; wait says whether to wait for an operation on the same
// key in flight (the request path does not wait: it leaves the key to the
// retries).
//
// A delete is attempted at once even while the circuit is open (a
// sign-out must reach the other instances as soon as Redis can take it;
// the circuit may still be open from a failure Redis has recovered from),
// bounded by L2Timeout like any call; if it fails it stays pending.
func (t *Tiered) apply(ctx context.Context, key string, gen uint64, op string, do func(context.Context) error, wait bool) {
	ok, probe := t.acquire()
	if !ok && op != "delete" {
		t.postpone(ctx, key, gen, op, ErrL2Unavailable)
		return
	}
	if t.attempt(ctx, key, gen, op, do, wait, probe) == attemptBusy {
		t.nudge()
	}
}

type attemptResult int

const (
	attemptDone   attemptResult = iota // applied and published, or superseded
	attemptBusy                        // another operation on the key is in flight
	attemptFailed                      // L2 failed: the key stays pending
)

// attempt applies do to key if gen is still its latest operation, then
// publishes the invalidation, each bounded by L2Timeout; L2 must have been
// acquired (probe as acquire said).
func (t *Tiered) attempt(ctx context.Context, key string, gen uint64, op string, do func(context.Context) error, wait, probe bool) attemptResult {
	release, got := t.lockKey(ctx, key, wait)
	if !got {
		t.endProbe(probe)
		return attemptBusy
	}
	if !t.current(key, gen) { // a later Set or Delete supersedes this one
		release()
		t.endProbe(probe)
		return attemptDone
	}
	c, cancel := t.l2ctx(ctx)
	err := do(c)
	cancel()
	if err == nil {
		err = t.publish(ctx, key)
	}
	release()
	op = errOp(op, err)
	t.finish(ctx, probe, op, err, false)
	if err != nil {
		t.postpone(ctx, key, gen, op, err)
		return attemptFailed
	}
	t.resolve(key, gen)
	return attemptDone
}

// publishError marks a failure of the invalidation publish after a
// successful write.
type publishError struct{ error }

func (e publishError) Unwrap() error { return e.error }

func errOp(op string, err error) string {
	var pe publishError
	if err != nil && errors.As(err, &pe) {
		return "publish"
	}
	return op
}

func (t *Tiered) endProbe(probe bool) {
	if probe {
		t.probing.Store(false)
	}
}

func (t *Tiered) publish(ctx context.Context, key string) error {
	inv, ok := t.l2.(Invalidator)
	if !ok || t.opts.DisableInvalidation {
		return nil
	}
	msg := make([]byte, 0, len(t.id)+1+len(key))
	msg = append(append(append(msg, t.id...), '\n'), key...)
	c, cancel := t.l2ctx(ctx)
	defer cancel()
	if err := inv.Publish(c, msg); err != nil && !errors.Is(err, errNoInvalidator) { // Encrypted over a store without pub/sub
		return publishError{err}
	}
	return nil
}

func (t *Tiered) onInvalidation(msg []byte) {
	id, k, ok := bytes.Cut(msg, []byte{'\n'})
	if !ok || bytes.Equal(id, t.id) {
		return
	}
	key := string(k)
	st := t.stripe(key)
	st.mu.Lock()
	st.seq.Add(1)
	t.l1.Delete(context.Background(), key)
	// Another instance wrote or deleted the key after our pending write:
	// theirs is newer. A pending delete stays: a sign-out must win.
	t.pmu.Lock()
	if p := t.pending[key]; p != nil && !p.del {
		t.dropPending(key, p)
	}
	t.pmu.Unlock()
	st.mu.Unlock()
}

// revalidateL1 runs after the subscription was lost and restored:
// invalidations may have been missed meanwhile, so every entry L1 holds now
// is checked against L2 at its next read (and served from L1 only when L2
// cannot answer). Pending writes keep their L1 value.
func (t *Tiered) revalidateL1() {
	t.l1.staleUpTo.Store(t.l1.sets.Load())
}

func (t *Tiered) stripe(key string) *stripe {
	return &t.stripes[maphash.String(t.seed, key)%uint64(len(t.stripes))]
}

// --- pending deletes and writes ---

// mark records that key's L2 copy must be deleted (del) or replaced by the
// value L1 holds, and returns the operation's generation.
func (t *Tiered) mark(key string, del bool) uint64 {
	t.pmu.Lock()
	defer t.pmu.Unlock()
	t.gen++
	p := t.pending[key]
	if p == nil {
		p = &pendingOp{}
		t.pending[key] = p
		t.nPending.Add(1)
	} else {
		if p.del {
			t.nDeletes.Add(-1)
		}
		p.reported = p.reported && p.del == del
	}
	if del {
		t.nDeletes.Add(1)
	}
	p.del, p.gen = del, t.gen
	return t.gen
}

func (t *Tiered) isPending(key string) bool {
	if t.nPending.Load() == 0 {
		return false
	}
	t.pmu.Lock()
	_, ok := t.pending[key]
	t.pmu.Unlock()
	return ok
}

func (t *Tiered) current(key string, gen uint64) bool {
	t.pmu.Lock()
	defer t.pmu.Unlock()
	p := t.pending[key]
	return p != nil && p.gen == gen
}

// resolve removes key from the pending set if gen is still its latest
// operation.
func (t *Tiered) resolve(key string, gen uint64) {
	t.pmu.Lock()
	if p := t.pending[key]; p != nil && p.gen == gen {
		t.dropPending(key, p)
	}
	t.pmu.Unlock()
}

// dropPending removes p; t.pmu must be held.
func (t *Tiered) dropPending(key string, p *pendingOp) {
	delete(t.pending, key)
	t.nPending.Add(-1)
	if p.del {
		t.nDeletes.Add(-1)
	}
}

// postpone leaves key pending after its L2 operation was skipped or
// failed, reports it once, and wakes the retries.
func (t *Tiered) postpone(ctx context.Context, key string, gen uint64, op string, err error) {
	t.pmu.Lock()
	p := t.pending[key]
	report := p != nil && p.gen == gen && !p.reported
	del := p != nil && p.del
	if report {
		p.reported = true
	}
	t.pmu.Unlock()
	if report {
		if del {
			t.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "cachestore: a delete could not reach L2; retrying until it does, and not serving the key meanwhile",
				slog.String("op", op), slog.String("error", err.Error()), slog.Int("pending_deletes", t.PendingDeletes()))
		}
		if t.opts.OnL2Failure != nil {
			t.opts.OnL2Failure(op, err)
		}
	}
	t.nudge()
}

func (t *Tiered) nudge() {
	if t.nPending.Load() == 0 {
		return
	}
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// lockKey takes key's L2 slot, so that L2 operations on one key are
// applied in order; without wait it does not wait for an operation in
// flight (got false).
func (t *Tiered) lockKey(ctx context.Context, key string, wait bool) (release func(), got bool) {
	for {
		t.kmu.Lock()
		held := t.busy[key]
		if held == nil {
			mine := make(chan struct{})
			t.busy[key] = mine
			t.kmu.Unlock()
			return func() {
				t.kmu.Lock()
				delete(t.busy, key)
				t.kmu.Unlock()
				close(mine)
			}, true
		}
		t.kmu.Unlock()
		if !wait {
			return nil, false
		}
		select {
		case <-held:
		case <-ctx.Done():
			return nil, false
		}
	}
}

const retryMin = 50 * time.Millisecond

// retryLoop applies pending deletes and writes until ctx ends: at once when
// nudged (a new pending key, L2 back), else with a back-off that doubles
// from 50 ms to RetryMax after each failure.
func (t *Tiered) retryLoop(ctx context.Context) {
	backoff := retryMin
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.kick:
		case <-timer.C:
		}
		if t.nPending.Load() == 0 {
			backoff = retryMin
			continue
		}
		switch t.flush(ctx, false) {
		case flushed:
			backoff = retryMin
			if t.nPending.Load() > 0 { // new ones arrived meanwhile
				timer.Reset(retryMin)
			}
			continue
		case failed:
			backoff = min(backoff*2, t.opts.RetryMax)
		case paused: // the circuit is open: check again soon, cheaply
		}
		wait := backoff
		if wait > 250*time.Millisecond && t.openTill.Load() != 0 {
			wait = 250 * time.Millisecond // no L2 call until the pause ends
		}
		timer.Reset(wait/2 + time.Duration(mrand.Int64N(int64(wait))))
	}
}

type flushResult int

const (
	flushed flushResult = iota
	failed
	paused
)

// flush applies every pending key once, in no particular order, and stops
// at the first failure.
func (t *Tiered) flush(ctx context.Context, closing bool) flushResult {
	type item struct {
		key      string
		gen      uint64
		del      bool
		reported bool
	}
	t.pmu.Lock()
	items := make([]item, 0, len(t.pending))
	for k, p := range t.pending {
		items = append(items, item{k, p.gen, p.del, p.reported})
	}
	t.pmu.Unlock()
	applied := 0 // of those reported as failed (not merely contended)
	for _, it := range items {
		ok, probe := t.acquire()
		if !ok && closing && t.openTill.Load() != 0 {
			ok = true // a last attempt even while the circuit is open
		}
		if !ok {
			return paused
		}
		// A pending write sends the value L1 holds now, with what is left
		// of its TTL; without one, L2 drops the key.
		op, do := "delete", func(c context.Context) error { return t.l2.Delete(c, it.key) }
		if !it.del {
			if v, ttl, found := t.l1.lookupTTL(it.key); found {
				op, do = "set", func(c context.Context) error { return t.l2.Set(c, it.key, v, ttl) }
			}
		}
		switch t.attempt(ctx, it.key, it.gen, op, do, true, probe) {
		case attemptBusy: // ctx ended while waiting
			return paused
		case attemptFailed:
			return failed
		}
		if it.reported {
			applied++
		}
	}
	if applied > 0 {
		t.opts.Logger.LogAttrs(ctx, slog.LevelInfo, "cachestore: deferred L2 deletes and writes applied",
			slog.Int("applied", applied), slog.Int("still_pending", int(t.nPending.Load())))
	}
	return flushed
}

// --- replay ---

// Add adds key in L2 when L2 can add and is reachable, so every instance
// sees it; while L2 is unavailable it adds in L1 and keeps the key as a
// pending write, like a Set, so L2 gets it once it is back and the other
// instances refuse the key from then on (between the two, only this
// instance knows it: availability first). An L2 that cannot add leaves the
// key to L1. L1 keeps a copy either way, so a replay to this instance is
// refused without a round trip.
func (t *Tiered) Add(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if ok, _ := t.l1.Add(ctx, key, value, ttl); !ok {
		return false, nil
	}
	a, isAdder := t.l2.(Adder)
	if !isAdder {
		return true, nil
	}
	if till := t.openTill.Load(); till != 0 && t.opts.Clock.Now().UnixNano() < till {
		t.keepForL2(key)
		return true, nil
	}
	lctx, cancel := t.l2ctx(ctx)
	defer cancel()
	added, err := a.Add(lctx, key, value, ttl)
	if err != nil {
		t.fail(ctx, "add", err, true)
		t.keepForL2(key)
		return true, nil
	}
	return added, nil
}

// keepForL2 makes an L1-only add a pending write: the retries copy L1's
// value (with the TTL it has left) to L2 once L2 answers.
func (t *Tiered) keepForL2(key string) {
	st := t.stripe(key)
	st.mu.Lock()
	st.seq.Add(1)
	t.mark(key, false)
	st.mu.Unlock()
	t.nudge()
}

// --- locks ---

// Lock takes a lock in L2 when it can lock; while L2 is unavailable it
// returns ErrL2Unavailable at once. The Unlocker's Unlock is bounded by
// L2Timeout; a failed release is reported (the lease then ends by itself
// within its ttl). When the L2 lock can tell whether it is still held
// (Lease), so can the returned Unlocker.
func (t *Tiered) Lock(ctx context.Context, name string, ttl time.Duration) (Unlocker, error) {
	l, ok := t.l2.(Locker)
	if !ok {
		return nil, ErrNoLocker
	}
	if till := t.openTill.Load(); till != 0 && t.opts.Clock.Now().UnixNano() < till {
		return nil, ErrL2Unavailable
	}
	u, err := l.Lock(ctx, name, ttl) // not a probe: it may wait for another holder
	switch {
	case err == nil, errors.Is(err, ErrLockNotReplicated):
		t.closeCircuit(ctx) // L2 answered
	case ctx.Err() != nil, errors.Is(err, ErrNoLocker): // says nothing of L2
	default:
		t.fail(ctx, "lock", err, true)
	}
	if err != nil {
		return nil, err
	}
	return &tieredLock{t: t, u: u}, nil
}

type tieredLock struct {
	t *Tiered
	u Unlocker
}

// Unlock releases the L2 lock, bounded by L2Timeout.
func (l *tieredLock) Unlock(ctx context.Context) error {
	c, cancel := l.t.l2ctx(ctx)
	defer cancel()
	err := l.u.Unlock(c)
	if err != nil {
		l.t.fail(ctx, "unlock", err, true)
	}
	return err
}

// Held reports whether the lock is still held (nil), bounded by L2Timeout.
func (l *tieredLock) Held(ctx context.Context) error {
	h, ok := l.u.(Lease)
	if !ok {
		return nil
	}
	c, cancel := l.t.l2ctx(ctx)
	defer cancel()
	return h.Held(c)
}
