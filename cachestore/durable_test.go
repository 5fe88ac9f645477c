package cachestore_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// gated is an L2 over a real Memory store that can be switched off, and
// whose calls can be held at a gate (a stalled Redis) while counting them.
type gated struct {
	*cachestore.Memory
	down    atomic.Bool
	mu      sync.Mutex
	gate    chan struct{} // when set, calls wait for it to close
	entered chan string   // receives the op of each call that reached the gate
	calls   atomic.Int64
}

func newGated(clk cachestore.Clock) *gated {
	return &gated{Memory: cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk}), entered: make(chan string, 4096)}
}

// hold makes the next calls wait until the returned func is called.
func (g *gated) hold() (release func()) {
	c := make(chan struct{})
	g.mu.Lock()
	g.gate = c
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		g.gate = nil
		g.mu.Unlock()
		close(c)
	}
}

func (g *gated) enter(ctx context.Context, op string) error {
	g.calls.Add(1)
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		g.entered <- op
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if g.down.Load() {
		return errDown
	}
	return nil
}

func (g *gated) Get(ctx context.Context, k string) ([]byte, bool, error) {
	if err := g.enter(ctx, "get"); err != nil {
		return nil, false, err
	}
	return g.Memory.Get(ctx, k)
}

func (g *gated) GetWithTTL(ctx context.Context, k string) ([]byte, time.Duration, bool, error) {
	if err := g.enter(ctx, "get"); err != nil {
		return nil, 0, false, err
	}
	return g.Memory.GetWithTTL(ctx, k)
}

func (g *gated) Set(ctx context.Context, k string, v []byte, ttl time.Duration) error {
	if err := g.enter(ctx, "set"); err != nil {
		return err
	}
	return g.Memory.Set(ctx, k, v, ttl)
}

func (g *gated) Delete(ctx context.Context, k string) error {
	if err := g.enter(ctx, "delete"); err != nil {
		return err
	}
	return g.Memory.Delete(ctx, k)
}

// waitUntil polls cond every millisecond and fails t when it still does not
// hold after 10 s (a generous bound on background work).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func inL2(g *gated, key string) string {
	v, ok := g.Memory.Lookup(key)
	if !ok {
		return "<none>"
	}
	return string(v)
}

func TestTieredDeleteIsRetriedUntilL2Confirms(t *testing.T) {
	ctx := context.Background()
	clk := iwt.NewClock(time.Unix(1_700_000_000, 0))
	l2 := newGated(clk)
	var hooks sync.Map
	tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk}), l2, cachestore.TieredOptions{
		Clock: clk, Logger: discard(), RetryMax: 20 * time.Millisecond,
		OnL2Failure: func(op string, err error) {
			n, _ := hooks.LoadOrStore(op, new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
		},
	})
	defer tr.Close()
	tr.Set(ctx, "rt", []byte("refresh token"), time.Hour)
	l2.down.Store(true)
	// The circuit is closed: the delete reaches L2, fails, and is kept.
	tr.Delete(ctx, "rt")
	if tr.PendingDeletes() != 1 {
		t.Fatalf("PendingDeletes = %d", tr.PendingDeletes())
	}
	if _, ok, _ := tr.Get(ctx, "rt"); ok {
		t.Fatal("a pending delete was served")
	}
	// Retries fail many times while L2 stays down (the circuit lets one
	// through after each pause); the hook hears of the key once.
	for i := 0; i < 5; i++ {
		before := tr.L2Failures()
		clk.Advance(3 * time.Second)
		waitUntil(t, "a retry", func() bool { return tr.L2Failures() > before })
	}
	if got := inL2(l2, "rt"); got != "refresh token" {
		t.Fatalf("L2 changed while down: %q", got)
	}
	if n, _ := hooks.Load("delete"); n == nil || n.(*atomic.Int64).Load() != 1 {
		t.Fatalf("OnL2Failure(delete) not called exactly once for one key")
	}
	l2.down.Store(false)
	clk.Advance(3 * time.Second)
	waitUntil(t, "the delete applied", func() bool { return tr.PendingDeletes() == 0 })
	if got := inL2(l2, "rt"); got != "<none>" {
		t.Fatalf("L2 still holds %q after the delete was confirmed", got)
	}
}

func TestTieredSetReplacesPendingDelete(t *testing.T) {
	ctx := context.Background()
	clk := iwt.NewClock(time.Unix(1_700_000_000, 0))
	l2 := newGated(clk)
	tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk}), l2, cachestore.TieredOptions{Clock: clk, Logger: discard()})
	defer tr.Close()
	tr.Set(ctx, "k", []byte("old"), time.Hour)
	l2.down.Store(true)
	tr.Get(ctx, "cold") // opens the circuit
	tr.Delete(ctx, "k")
	tr.Set(ctx, "k", []byte("new"), time.Hour) // signed in again: the new value wins
	if tr.PendingDeletes() != 0 || tr.PendingWrites() != 1 {
		t.Fatalf("pending deletes %d, writes %d; want 0, 1", tr.PendingDeletes(), tr.PendingWrites())
	}
	if v, _, _ := tr.Get(ctx, "k"); string(v) != "new" {
		t.Fatalf("Get = %q", v)
	}
	l2.down.Store(false)
	clk.Advance(3 * time.Second)
	waitUntil(t, "the write applied", func() bool { return tr.PendingWrites() == 0 })
	if got := inL2(l2, "k"); got != "new" {
		t.Fatalf("L2 holds %q, want the later write", got)
	}
}

func TestTieredPendingWriteNeverServesStaleL2(t *testing.T) {
	ctx := context.Background()
	clk := iwt.NewClock(time.Unix(1_700_000_000, 0))
	l2 := newGated(clk)
	l1 := cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk})
	tr := cachestore.NewTiered(l1, l2, cachestore.TieredOptions{Clock: clk, Logger: discard()})
	defer tr.Close()
	tr.Set(ctx, "rt", []byte("RT1"), time.Hour)
	l2.down.Store(true)
	tr.Set(ctx, "rt", []byte("RT2"), time.Hour) // a rotated refresh token L2 did not take
	l2.down.Store(false)
	clk.Advance(3 * time.Second) // the circuit may let a call through now
	if v, ok, _ := tr.GetFresh(ctx, "rt"); !ok || string(v) != "RT2" {
		t.Fatalf("GetFresh = %q, %v; want L1's RT2, not L2's spent RT1", v, ok)
	}
	waitUntil(t, "the write applied", func() bool { return tr.PendingWrites() == 0 })
	if got := inL2(l2, "rt"); got != "RT2" {
		t.Fatalf("L2 holds %q, want RT2", got)
	}
	// Same case with the value evicted from L1 before L2 took it: a miss,
	// and L2's stale copy is dropped instead of served.
	l2.down.Store(true)
	tr.Set(ctx, "rt", []byte("RT3"), time.Hour)
	l1.Delete(ctx, "rt") // evicted
	l2.down.Store(false)
	clk.Advance(3 * time.Second)
	if v, ok, _ := tr.Get(ctx, "rt"); ok {
		t.Fatalf("served %q from L2 while a newer write of the key was pending", v)
	}
	waitUntil(t, "the pending write resolved", func() bool { return tr.PendingWrites() == 0 })
	if got := inL2(l2, "rt"); got != "<none>" {
		t.Fatalf("L2 kept the stale %q", got)
	}
}

func TestTieredAsyncFullQueueLosesNoDelete(t *testing.T) {
	ctx := context.Background()
	l2 := newGated(nil)
	tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{}), l2, cachestore.TieredOptions{
		AsyncWrites: true, L2Timeout: time.Minute, Logger: discard()})
	defer tr.Close()
	const n = 3000 // more than the queue holds
	for i := 0; i < n; i++ {
		l2.Memory.Set(ctx, "k"+strconv.Itoa(i), []byte("v"), time.Hour)
	}
	release := l2.hold() // L2 hangs: the async writer blocks on its first call
	for i := 0; i < n; i++ {
		tr.Delete(ctx, "k"+strconv.Itoa(i))
	}
	if tr.DroppedWrites() == 0 {
		t.Fatal("the queue never filled")
	}
	if tr.PendingDeletes() != n {
		t.Fatalf("PendingDeletes = %d, want %d", tr.PendingDeletes(), n)
	}
	release()
	waitUntil(t, "every delete applied", func() bool { return tr.PendingDeletes() == 0 })
	for i := 0; i < n; i++ {
		if got := inL2(l2, "k"+strconv.Itoa(i)); got != "<none>" {
			t.Fatalf("k%d survived its delete", i)
		}
	}
}

// An L2 read that started before a Delete must not put the deleted value
// back into L1 when it returns.
func TestTieredFillRacingDeleteDoesNotResurrect(t *testing.T) {
	ctx := context.Background()
	l2 := newGated(nil)
	l1 := cachestore.NewMemory(cachestore.MemoryOptions{})
	tr := cachestore.NewTiered(l1, l2, cachestore.TieredOptions{L2Timeout: time.Minute, Logger: discard()})
	defer tr.Close()
	l2.Memory.Set(ctx, "k", []byte("old"), time.Hour)
	release := l2.hold()
	got := make(chan string, 1)
	go func() { v, _, _ := tr.Get(ctx, "k"); got <- string(v) }()
	<-l2.entered // the read is in flight
	delDone := make(chan struct{})
	go func() { tr.Delete(ctx, "k"); close(delDone) }()
	// The Delete has changed L1 (and waits for L2 behind the gate, or is
	// left to the retries); let everything through.
	waitUntil(t, "the delete to reach L2", func() bool { return len(l2.entered) > 0 || tr.PendingDeletes() == 1 })
	release()
	<-delDone
	<-got
	waitUntil(t, "the delete applied", func() bool { return tr.PendingDeletes() == 0 })
	if v, ok := l1.Lookup("k"); ok {
		t.Fatalf("L1 holds %q after the delete: a racing read filled it", v)
	}
	if _, ok, _ := tr.Get(ctx, "k"); ok {
		t.Fatal("deleted key served")
	}
}

// After the pause only one call probes L2; the others keep skipping it
// until the probe succeeds, so a hung Redis costs one call per pause.
func TestTieredHalfOpenLetsOneProbeThrough(t *testing.T) {
	ctx := context.Background()
	clk := iwt.NewClock(time.Unix(1_700_000_000, 0))
	l2 := newGated(clk)
	tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk}), l2, cachestore.TieredOptions{
		Clock: clk, Logger: discard(), L2Timeout: time.Minute})
	defer tr.Close()
	l2.down.Store(true)
	tr.Get(ctx, "a") // opens the circuit
	l2.down.Store(false)
	release := l2.hold()
	clk.Advance(3 * time.Second)
	before := l2.calls.Load()
	probe := make(chan struct{})
	go func() { defer close(probe); tr.Get(ctx, "probe") }()
	<-l2.entered // the probe is in flight, held
	for i := 0; i < 20; i++ {
		if _, ok, _ := tr.Get(ctx, "miss"+strconv.Itoa(i)); ok {
			t.Fatal("a miss was served")
		}
	}
	if n := l2.calls.Load() - before; n != 1 {
		t.Fatalf("%d calls reached L2 in the half-open state, want 1", n)
	}
	release()
	<-probe
	tr.Get(ctx, "after")
	if n := l2.calls.Load() - before; n != 2 {
		t.Fatalf("L2 calls after the probe succeeded = %d, want 2", n)
	}
}

func TestTieredCloseReportsUnappliedDeletes(t *testing.T) {
	ctx := context.Background()
	clk := iwt.NewClock(time.Unix(1_700_000_000, 0))
	l2 := newGated(clk)
	tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk}), l2, cachestore.TieredOptions{Clock: clk, Logger: discard()})
	l2.down.Store(true)
	tr.Delete(ctx, "a")
	tr.Delete(ctx, "b")
	tr.Set(ctx, "c", []byte("v"), time.Hour)
	err := tr.Close()
	var ue *cachestore.UnappliedError
	if !errors.As(err, &ue) || ue.Deletes != 2 || ue.Writes != 1 || !errors.Is(err, cachestore.ErrL2Unavailable) {
		t.Fatalf("Close = %v", err)
	}
	if err2 := tr.Close(); err2 != err {
		t.Fatalf("second Close = %v", err2)
	}
	// With L2 back, Close applies what is left.
	l2.down.Store(false)
	tr2 := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk}), l2, cachestore.TieredOptions{Clock: clk, Logger: discard()})
	l2.Memory.Set(ctx, "d", []byte("v"), time.Hour)
	l2.down.Store(true)
	tr2.Delete(ctx, "d")
	l2.down.Store(false)
	if err := tr2.Close(); err != nil {
		t.Fatalf("Close with L2 back = %v", err)
	}
	if got := inL2(l2, "d"); got != "<none>" {
		t.Fatalf("Close left %q", got)
	}
}

// resubBus is a bus whose subscription loss and return the test triggers.
type resubBus struct {
	*gated
	mu    sync.Mutex
	resub []func()
}

func (b *resubBus) Publish(context.Context, []byte) error { return nil }

func (b *resubBus) Subscribe(ctx context.Context, _ func([]byte), onResubscribe func()) error {
	b.mu.Lock()
	b.resub = append(b.resub, onResubscribe)
	b.mu.Unlock()
	<-ctx.Done()
	return ctx.Err()
}

func (b *resubBus) resubscribed() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, f := range b.resub {
		f()
	}
}

// After a lost subscription, L1 entries are checked against L2 at their
// next read instead of being thrown away: what changed or went in L2
// meanwhile is seen, and what L2 cannot confirm while down is still served.
func TestTieredRevalidatesL1AfterResubscribe(t *testing.T) {
	ctx := context.Background()
	l2 := &resubBus{gated: newGated(nil)}
	tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{}), l2, cachestore.TieredOptions{Logger: discard()})
	defer tr.Close()
	waitUntil(t, "the subscription", func() bool { l2.mu.Lock(); defer l2.mu.Unlock(); return len(l2.resub) == 1 })
	for _, k := range []string{"changed", "deleted", "kept"} {
		tr.Set(ctx, k, []byte("v1"), time.Hour)
	}
	// Another instance changed and deleted keys while our subscription
	// was down: their messages never reached us.
	l2.Memory.Set(ctx, "changed", []byte("v2"), time.Hour)
	l2.Memory.Delete(ctx, "deleted")
	if v, _, _ := tr.Get(ctx, "changed"); string(v) != "v1" {
		t.Fatalf("before the resubscription: %q", v)
	}
	l2.resubscribed()
	if v, lvl, ok, _ := tr.GetLevel(ctx, "changed"); !ok || string(v) != "v2" || lvl != cachestore.LevelL2 {
		t.Fatalf("changed key after resubscription = %q %v %v, want v2 from L2", v, lvl, ok)
	}
	if _, lvl, _, _ := tr.GetLevel(ctx, "changed"); lvl != cachestore.LevelL1 {
		t.Fatal("a revalidated entry was not served from L1 again")
	}
	if v, ok, _ := tr.Get(ctx, "deleted"); ok {
		t.Fatalf("deleted key served after resubscription: %q", v)
	}
	l2.down.Store(true) // L2 cannot answer: the L1 copy is served
	if v, ok, _ := tr.Get(ctx, "kept"); !ok || string(v) != "v1" {
		t.Fatalf("kept key with L2 down = %q %v", v, ok)
	}
}

// During a key rotation's rollout an instance with the old ring cannot read
// the invalidations of one that seals with the new key: a sign-out on the
// new instance must still stop the old one serving the tokens.
func TestInvalidationFromAnotherKeyRingRevalidates(t *testing.T) {
	ctx := context.Background()
	oldKey, newKey := cachestore.NewKey(), cachestore.NewKey()
	oldRing, _ := cachestore.NewKeyRing(oldKey)
	newRing, _ := cachestore.NewKeyRing(newKey, oldKey)
	shared := &bus{Memory: cachestore.NewMemory(cachestore.MemoryOptions{})}
	rolledOut := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{}),
		cachestore.NewEncrypted(shared, newRing, cachestore.EncryptedOptions{Logger: discard()}), cachestore.TieredOptions{Logger: discard()})
	notYet := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{}),
		cachestore.NewEncrypted(shared, oldRing, cachestore.EncryptedOptions{Logger: discard()}), cachestore.TieredOptions{Logger: discard()})
	defer rolledOut.Close()
	defer notYet.Close()
	waitSubscribed(t, shared, 2)
	notYet.Set(ctx, "rt", []byte("refresh token"), time.Hour) // sealed with the old key: both read it
	if v, _, _ := rolledOut.Get(ctx, "rt"); string(v) != "refresh token" {
		t.Fatalf("the rolled-out instance cannot read the old key's value: %q", v)
	}
	rolledOut.Delete(ctx, "rt") // sign-out on the rolled-out instance
	if v, ok, _ := notYet.Get(ctx, "rt"); ok {
		t.Fatalf("the instance with the old ring still serves %q after the sign-out", v)
	}
}

// A Handle taken on an L1 entry (what the token engine's front holds) goes
// invalid when the L1 is revalidated after a lost subscription: a value
// that may have been changed or deleted elsewhere meanwhile is never served
// through a handle without the check against L2 that a read makes.
func TestHandlesFollowRevalidation(t *testing.T) {
	ctx := context.Background()
	l2 := &resubBus{gated: newGated(nil)}
	tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{}), l2, cachestore.TieredOptions{Logger: discard()})
	defer tr.Close()
	waitUntil(t, "the subscription", func() bool { l2.mu.Lock(); defer l2.mu.Unlock(); return len(l2.resub) == 1 })
	tr.Set(ctx, "k", []byte("v1"), time.Hour)
	_, h, ok := tr.L1().LookupHandle("k", time.Now())
	if !ok || !h.Valid() {
		t.Fatal("no handle on a stored value")
	}
	l2.Memory.Delete(ctx, "k") // another instance, unheard
	l2.resubscribed()
	if h.Valid() {
		t.Fatal("a handle taken before the revalidation is still valid")
	}
	if _, ok, _ := tr.Get(ctx, "k"); ok {
		t.Fatal("the deleted value was served after the revalidation")
	}
	tr.Set(ctx, "k", []byte("v2"), time.Hour)
	if _, h, ok := tr.L1().LookupHandle("k", time.Now()); !ok || !h.Valid() {
		t.Fatal("a value stored after the revalidation has no valid handle")
	}
}

// GetFresh with L2 unreachable answers from L1 when L1 holds the key, and
// otherwise says it cannot tell (ErrL2Unavailable) rather than "absent": a
// value another instance replaced is dropped from L1 by the invalidation
// and still in L2 (the engine must not take the user for signed out).
func TestGetFreshSaysWhenItCannotTell(t *testing.T) {
	ctx := context.Background()
	l2 := newGated(nil)
	tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{}), l2, cachestore.TieredOptions{Logger: discard()})
	defer tr.Close()
	tr.Set(ctx, "here", []byte("v"), time.Hour)
	l2.Memory.Set(ctx, "only-in-l2", []byte("w"), time.Hour)
	l2.down.Store(true)
	if v, ok, err := tr.GetFresh(ctx, "here"); err != nil || !ok || string(v) != "v" {
		t.Fatalf("GetFresh of an L1 key with L2 down = %q %v %v", v, ok, err)
	}
	if _, ok, err := tr.GetFresh(ctx, "only-in-l2"); ok || !errors.Is(err, cachestore.ErrL2Unavailable) {
		t.Fatalf("GetFresh of a key L1 lacks with L2 down = %v %v, want ErrL2Unavailable", ok, err)
	}
	l2.down.Store(false)
	time.Sleep(10 * time.Millisecond)
}

// GetKnown answers like Get, except that a key L1 lacks while L2 cannot be
// reached is ErrL2Unavailable, not "not found" (Get's availability-first
// answer, kept); a key whose delete is pending is not found.
func TestGetKnownSaysWhenItCannotTell(t *testing.T) {
	ctx := context.Background()
	l1 := cachestore.NewMemory(cachestore.MemoryOptions{})
	l2 := newGated(nil)
	tr := cachestore.NewTiered(l1, l2, cachestore.TieredOptions{Logger: discard(), CircuitBreak: time.Millisecond})
	defer tr.Close()
	tr.Set(ctx, "here", []byte("v"), time.Hour)
	tr.Set(ctx, "deleted", []byte("d"), time.Hour)
	tr.Set(ctx, "replaced", []byte("r"), time.Hour)
	l1.Delete(ctx, "replaced") // as another instance's write would
	l2.down.Store(true)
	tr.Delete(ctx, "deleted") // pending while L2 is down
	if v, ok, err := tr.GetKnown(ctx, "here"); err != nil || !ok || string(v) != "v" {
		t.Fatalf("GetKnown of an L1 key with L2 down = %q %v %v", v, ok, err)
	}
	if _, ok, err := tr.GetKnown(ctx, "replaced"); ok || !errors.Is(err, cachestore.ErrL2Unavailable) {
		t.Fatalf("GetKnown of a key L1 lacks with L2 down = %v %v, want ErrL2Unavailable", ok, err)
	}
	if _, ok, err := tr.Get(ctx, "replaced"); ok || err != nil {
		t.Fatalf("Get of a key L1 lacks with L2 down = %v %v, want not found (availability first)", ok, err)
	}
	if _, ok, err := tr.GetKnown(ctx, "deleted"); ok || err != nil {
		t.Fatalf("GetKnown of a key deleted here = %v %v, want not found", ok, err)
	}
	l2.down.Store(false)
	time.Sleep(5 * time.Millisecond) // the circuit closes
	if v, ok, err := tr.GetKnown(ctx, "replaced"); err != nil || !ok || string(v) != "r" {
		t.Fatalf("GetKnown with L2 back = %q %v %v", v, ok, err)
	}
}
