package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/cachestore/redisstore"
	"github.com/identityweb/go-identityweb/internal/redistest"
	"github.com/identityweb/go-identityweb/internal/storetest"
)

// faultDuration is how long a stall lasts: a few seconds in CI, and
// IDWEB_LOAD_DURATION when set (the full run: IDWEB_LOAD_DURATION=10s).
func faultDuration(t *testing.T) time.Duration {
	if v := os.Getenv("IDWEB_LOAD_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("IDWEB_LOAD_DURATION=%q: %v", v, err)
		}
		return d
	}
	return 3 * time.Second
}

// tieredOn is one app instance: an L1 over the encrypted store s.
func tieredOn(t *testing.T, s *redisstore.Store, ring *cachestore.KeyRing, opts cachestore.TieredOptions) *cachestore.Tiered {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = discard()
	}
	tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{}),
		cachestore.NewEncrypted(s, ring, cachestore.EncryptedOptions{Logger: discard()}), opts)
	t.Cleanup(func() { tr.Close() })
	return tr
}

// load runs workers against one instance until stop: each reads keys held
// in its L1 (they must always be served, with their value), and now and
// then writes a new key and reads a key nobody wrote (calls that go to L2).
type load struct {
	stop                          chan struct{}
	wg                            sync.WaitGroup
	l1Gets, l1Failed, sets, colds atomic.Int64
	l1Max, l2Max                  atomic.Int64 // slowest call of each kind, ns
}

func startLoad(tr *cachestore.Tiered, l1 map[string]string, workers int) *load {
	keys := make([]string, 0, len(l1))
	for k := range l1 {
		keys = append(keys, k)
	}
	ld := &load{stop: make(chan struct{})}
	ctx := context.Background()
	for w := 0; w < workers; w++ {
		ld.wg.Add(1)
		go func() {
			defer ld.wg.Done()
			for i := 0; i < 1_000_000; i++ { // bounded; stop ends it long before
				select {
				case <-ld.stop:
					return
				default:
				}
				k := keys[(i*7+w)%len(keys)]
				start := time.Now()
				v, ok, err := tr.Get(ctx, k)
				maxInto(&ld.l1Max, time.Since(start))
				ld.l1Gets.Add(1)
				if !ok || err != nil || string(v) != l1[k] {
					ld.l1Failed.Add(1)
				}
				if i%10 == 0 {
					start = time.Now()
					tr.Set(ctx, fmt.Sprintf("w-%d-%d", w, i), []byte("written under load"), time.Hour)
					maxInto(&ld.l2Max, time.Since(start))
					start = time.Now()
					tr.Get(ctx, fmt.Sprintf("cold-%d-%d", w, i))
					maxInto(&ld.l2Max, time.Since(start))
					ld.sets.Add(1)
					ld.colds.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	return ld
}

func (ld *load) halt() {
	close(ld.stop)
	ld.wg.Wait()
}

func (ld *load) String() string {
	return fmt.Sprintf("%d L1 reads (%d failed, slowest %v), %d writes and %d cold reads (slowest %v)",
		ld.l1Gets.Load(), ld.l1Failed.Load(), time.Duration(ld.l1Max.Load()).Round(time.Microsecond),
		ld.sets.Load(), ld.colds.Load(), time.Duration(ld.l2Max.Load()).Round(time.Millisecond))
}

func maxInto(m *atomic.Int64, d time.Duration) {
	for {
		cur := m.Load()
		if int64(d) <= cur || m.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// fill writes n keys through tr and returns them with their values.
func fill(t *testing.T, tr *cachestore.Tiered, n int) map[string]string {
	t.Helper()
	m := map[string]string{}
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("idw1|authority|client|U|tenant|api://x/.default|partition-%d", i)
		m[k] = "token-" + k
		tr.Set(context.Background(), k, []byte(m[k]), time.Hour)
	}
	return m
}

// raw is the Redis key an Encrypted store over prefix uses for key.
func raw(prefix, key string) string { return prefix + cachestore.HashKey(key) }

// invalidationReaches checks that a write on from reaches to's L1 through
// pub/sub: to first holds a value it read after any revalidation, then a
// second write must replace it — which only an invalidation can do.
func invalidationReaches(t *testing.T, from, to *cachestore.Tiered, key string) time.Duration {
	t.Helper()
	ctx := context.Background()
	for i := 0; ; i++ {
		v := fmt.Sprintf("first-%d", i)
		from.Set(ctx, key, []byte(v), time.Hour)
		if got, _, _ := to.Get(ctx, key); string(got) == v {
			break
		}
		if i > 1000 {
			t.Fatalf("%q never reached the other instance", key)
		}
		time.Sleep(10 * time.Millisecond)
	}
	from.Set(ctx, key, []byte("second"), time.Hour)
	return eventually(t, 15*time.Second, "the invalidation reaching the other instance", func() bool {
		got, _, _ := to.Get(ctx, key)
		return string(got) == "second"
	})
}

// TestSentinelFailoverUnderLoad kills the master of a Sentinel deployment
// while two instances read and write: reads of L1 keys never fail, writes
// resume on the promoted replica by themselves, both subscriptions move to
// it, and every key has a TTL there.
func TestSentinelFailoverUnderLoad(t *testing.T) {
	t.Parallel()
	sent := redistest.StartSentinel(t, redistest.SentinelOptions{})
	addrs := sent.SentinelAddrs()
	url := "redis://" + addrs[0] + "?master_name=" + sent.MasterName + "&addr=" + addrs[1] + "&addr=" + addrs[2]
	const prefix = "sent:"
	store := func(t *testing.T, prefix string) *redisstore.Store {
		s, err := redisstore.NewFromURL(url, redisstore.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	t.Run("contract", func(t *testing.T) {
		var n atomic.Int64
		storetest.Run(t, storetest.Harness{New: func(t *testing.T) cachestore.Store {
			return store(t, fmt.Sprintf("contract%d:", n.Add(1)))
		}})
	})
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	opts := cachestore.TieredOptions{CircuitBreak: 200 * time.Millisecond}
	a := tieredOn(t, store(t, prefix), ring, opts)
	b := tieredOn(t, store(t, prefix), ring, opts)
	keys := fill(t, a, 64)
	for k := range keys {
		b.Get(context.Background(), k) // b holds them in L1 too
	}
	old, _ := sent.MasterAddr()
	redistest.WaitReplicated(t, old)
	ld := startLoad(a, keys, 4)
	time.Sleep(200 * time.Millisecond)

	killed := time.Now()
	sent.KillMaster(t)
	var resumed time.Duration
	for i := 0; ; i++ { // a write through a that lands on the new master
		k := fmt.Sprintf("probe-%d", i)
		a.Set(context.Background(), k, []byte("x"), time.Hour)
		if m, err := sent.MasterAddr(); err == nil && m != old {
			if n, _ := redistest.Do(m, "EXISTS", raw(prefix, k)); n == ":1" {
				resumed = time.Since(killed)
				break
			}
		}
		if time.Since(killed) > 60*time.Second {
			t.Fatal("writes did not resume on a new master within 60s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	master := sent.WaitFailover(t, old)
	time.Sleep(300 * time.Millisecond) // load on the new master
	ld.halt()
	t.Logf("sentinel failover %s -> %s: writes resumed on the new master %v after the kill; %s; %d L2 failures",
		old, master, resumed.Round(time.Millisecond), ld, a.L2Failures())
	if ld.l1Failed.Load() != 0 {
		t.Fatalf("%d reads of L1 keys failed during the failover", ld.l1Failed.Load())
	}
	took := invalidationReaches(t, a, b, "after-failover-a")
	t.Logf("a -> b invalidation after the failover: %v", took.Round(time.Millisecond))
	invalidationReaches(t, b, a, "after-failover-b")
	if l, err := a.Lock(context.Background(), "after-failover", 5*time.Second); err != nil {
		t.Fatalf("Lock on the new master: %v", err)
	} else {
		l.Unlock(context.Background())
	}
	eventually(t, 15*time.Second, "pending writes applied", func() bool { return a.PendingWrites() == 0 && a.PendingDeletes() == 0 })
	t.Logf("%d keys on the new master, all with a TTL", redistest.CheckTTLs(t, master))
}

// TestClusterFailoverUnderLoad is the same with a Cluster of three masters
// and three replicas: the master that holds the instances' keys (one hash
// slot, through the prefix's hash tag) dies.
func TestClusterFailoverUnderLoad(t *testing.T) {
	t.Parallel()
	c := redistest.StartClusterWith(t, redistest.ClusterOptions{Masters: 3, ReplicasPerMaster: 1, NodeTimeout: time.Second})
	const prefix = "{idw}:"
	store := func() *redisstore.Store {
		rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), ContextTimeoutEnabled: true})
		t.Cleanup(func() { rdb.Close() })
		return redisstore.New(rdb, redisstore.Options{Prefix: prefix})
	}
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	opts := cachestore.TieredOptions{CircuitBreak: 200 * time.Millisecond}
	a := tieredOn(t, store(), ring, opts)
	b := tieredOn(t, store(), ring, opts)
	keys := fill(t, a, 64)
	for k := range keys {
		b.Get(context.Background(), k)
	}
	owner, err := c.MasterFor(prefix)
	if err != nil {
		t.Fatal(err)
	}
	redistest.WaitReplicated(t, owner.Addr)
	ld := startLoad(a, keys, 4)
	time.Sleep(200 * time.Millisecond)

	killed := time.Now()
	owner.Kill()
	var resumed time.Duration
	var master string
	for i := 0; ; i++ {
		k := fmt.Sprintf("probe-%d", i)
		a.Set(context.Background(), k, []byte("x"), time.Hour)
		if m, err := c.MasterFor(raw(prefix, k)); err == nil && m != owner {
			if n, _ := redistest.Do(m.Addr, "EXISTS", raw(prefix, k)); n == ":1" {
				resumed, master = time.Since(killed), m.Addr
				break
			}
		}
		if time.Since(killed) > 60*time.Second {
			t.Fatal("writes did not resume on a promoted replica within 60s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.WaitFailover(t, owner.Addr)
	time.Sleep(300 * time.Millisecond)
	ld.halt()
	t.Logf("cluster failover %s -> %s: writes resumed %v after the kill; %s; %d L2 failures",
		owner.Addr, master, resumed.Round(time.Millisecond), ld, a.L2Failures())
	if ld.l1Failed.Load() != 0 {
		t.Fatalf("%d reads of L1 keys failed during the failover", ld.l1Failed.Load())
	}
	took := invalidationReaches(t, a, b, "after-failover-a")
	t.Logf("a -> b invalidation after the failover: %v", took.Round(time.Millisecond))
	invalidationReaches(t, b, a, "after-failover-b")
	eventually(t, 15*time.Second, "pending writes applied", func() bool { return a.PendingWrites() == 0 && a.PendingDeletes() == 0 })
	var live []string
	for _, n := range c.Nodes {
		if n != owner {
			live = append(live, n.Addr)
		}
	}
	t.Logf("%d keys on the live nodes, all with a TTL", redistest.CheckTTLs(t, live...))
}

// TestRedisStall holds every byte between an instance and Redis (a hung
// server or a black-holed network) for faultDuration under load: L1 reads
// keep answering, no call waits longer than its timeout, connections and
// goroutines stay bounded and return to their baseline after recovery,
// deletes made during the stall reach Redis, and the subscription is
// replaced.
func TestRedisStall(t *testing.T) {
	srv := redistest.Start(t)
	if srv.External() {
		t.Skip("needs a private redis-server behind the proxy")
	}
	stall := faultDuration(t)
	link := redistest.StartProxy(t, srv.Addr)
	rdb := redis.NewClient(&redis.Options{Addr: link.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	const prefix = "stall:"
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	sa := redisstore.New(rdb, redisstore.Options{Prefix: prefix})
	a := tieredOn(t, sa, ring, cachestore.TieredOptions{}) // defaults: 250 ms, 2 s
	direct := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { direct.Close() })
	b := tieredOn(t, redisstore.New(direct, redisstore.Options{Prefix: prefix}), ring, cachestore.TieredOptions{})
	keys := fill(t, a, 64)
	signedOut := "idw1|authority|client|U|tenant|api://x/.default|signed-out"
	a.Set(context.Background(), signedOut, []byte("token"), time.Hour)
	warm := startLoad(a, keys, 4)
	time.Sleep(300 * time.Millisecond)
	warm.halt()
	baseG, baseConns := runtime.NumGoroutine(), link.OpenConns()

	ld := startLoad(a, keys, 4)
	time.Sleep(100 * time.Millisecond)
	link.SetMode(redistest.Stall)
	stalled := time.Now()
	var maxConns, maxG int
	var lockTook, storeLockTook, deleteTook time.Duration
	for time.Since(stalled) < stall {
		maxConns = max(maxConns, link.OpenConns())
		maxG = max(maxG, runtime.NumGoroutine())
		if lockTook == 0 && time.Since(stalled) > 500*time.Millisecond {
			start := time.Now()
			lctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // the engine's RefreshLockWait
			if l, err := a.Lock(lctx, "during-stall", 15*time.Second); err == nil {
				l.Unlock(lctx)
			}
			cancel()
			lockTook = time.Since(start)
			start = time.Now()
			lctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
			if l, err := sa.Lock(lctx, "during-stall", 15*time.Second); err == nil { // the store alone, no circuit
				l.Unlock(lctx)
			}
			cancel()
			storeLockTook = time.Since(start)
			start = time.Now()
			a.Delete(context.Background(), signedOut) // a sign-out during the stall
			deleteTook = time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	link.SetMode(redistest.Pass)
	ctx := context.Background()
	b.Set(ctx, "written-by-b", []byte("v"), time.Hour)
	recovered := eventually(t, 15*time.Second, "a reading L2 again", func() bool {
		_, lvl, ok, _ := a.GetLevel(ctx, "written-by-b")
		return ok && lvl == cachestore.LevelL2
	})
	eventually(t, 15*time.Second, "the sign-out reaching Redis", func() bool {
		n, _ := redistest.Do(srv.Addr, "EXISTS", raw(prefix, signedOut))
		return n == ":0" && a.PendingDeletes() == 0
	})
	ld.halt()
	t.Logf("stall of %v: %s; Tiered.Lock took %v, redisstore Lock %v, Delete %v; L2 read again %v after the stall; %d L2 failures; during the stall at most %d proxy connections (baseline %d) and %d goroutines (baseline %d)",
		stall, ld, lockTook.Round(time.Millisecond), storeLockTook.Round(time.Millisecond), deleteTook.Round(time.Millisecond), recovered.Round(time.Millisecond),
		a.L2Failures(), maxConns, baseConns, maxG, baseG)
	if ld.l1Failed.Load() != 0 {
		t.Fatalf("%d reads of L1 keys failed during the stall", ld.l1Failed.Load())
	}
	// Bounds that fail only when exceeded by far (the numbers are logged).
	if l2 := time.Duration(ld.l2Max.Load()); l2 > 250*time.Millisecond+2*time.Second {
		t.Errorf("a call that reaches L2 took %v, far beyond L2Timeout (250 ms)", l2)
	}
	if lockTook > 250*time.Millisecond+2*time.Second || storeLockTook > 500*time.Millisecond+2*time.Second {
		t.Errorf("Lock took %v (Tiered) and %v (redisstore) during the stall, far beyond the timeouts (250 ms, 500 ms)", lockTook, storeLockTook)
	}
	if maxConns > baseConns+40 {
		t.Errorf("%d connections open during the stall (baseline %d): the pool is not bounded", maxConns, baseConns)
	}
	// The pool may keep a few more idle connections than before (each costs
	// the proxy five goroutines): the library's own goroutines are counted
	// apart from them.
	eventually(t, 15*time.Second, "goroutines and connections back to the baseline", func() bool {
		conns := link.OpenConns()
		return conns <= baseConns+10 && runtime.NumGoroutine()-5*conns <= baseG-5*baseConns+10
	})
	t.Logf("after recovery: %d goroutines (baseline %d), %d proxy connections (baseline %d)", runtime.NumGoroutine(), baseG, link.OpenConns(), baseConns)
	invalidationReaches(t, b, a, "after-stall") // a's subscription was replaced
	redistest.CheckTTLs(t, srv.Addr)
}

// TestRedisLatency puts 200 ms on every command: within the timeout L2 keeps
// working (slowly) and L1 is unaffected; beyond it, calls are cut at the
// timeout, the circuit opens, and what could not be written is applied when
// the latency goes.
func TestRedisLatency(t *testing.T) {
	srv := redistest.Start(t)
	if srv.External() {
		t.Skip("needs a private redis-server behind the proxy")
	}
	link := redistest.StartProxy(t, srv.Addr)
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	direct := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { direct.Close() })
	const prefix = "slow:"
	other := tieredOn(t, redisstore.New(direct, redisstore.Options{Prefix: prefix}), ring, cachestore.TieredOptions{})
	slow := func(timeout time.Duration) *cachestore.Tiered {
		rdb := redis.NewClient(&redis.Options{Addr: link.Addr, ContextTimeoutEnabled: true})
		t.Cleanup(func() { rdb.Close() })
		return tieredOn(t, redisstore.New(rdb, redisstore.Options{Prefix: prefix, Timeout: 2 * time.Second}), ring,
			cachestore.TieredOptions{L2Timeout: timeout})
	}
	ctx := context.Background()
	link.SetLatency(200 * time.Millisecond)

	t.Run("within the timeout", func(t *testing.T) {
		a := slow(2 * time.Second)
		a.Set(ctx, "mine", []byte("v"), time.Hour) // also dials through the latency
		other.Set(ctx, "theirs", []byte("w"), time.Hour)
		start := time.Now()
		v, lvl, ok, _ := a.GetLevel(ctx, "theirs")
		l2 := time.Since(start)
		start = time.Now()
		_, lvl1, _, _ := a.GetLevel(ctx, "mine")
		l1 := time.Since(start)
		t.Logf("with 200 ms per command: L2 read %v, L1 read %v, %d L2 failures", l2.Round(time.Millisecond), l1, a.L2Failures())
		if !ok || string(v) != "w" || lvl != cachestore.LevelL2 || lvl1 != cachestore.LevelL1 {
			t.Fatalf("L2 read = %q %v %v; L1 level %v", v, lvl, ok, lvl1)
		}
		if l2 < 200*time.Millisecond {
			t.Fatalf("the L2 read took %v: it did not go through the latency", l2)
		}
		if a.L2Failures() != 0 {
			t.Fatalf("%d L2 failures with the latency under the timeout", a.L2Failures())
		}
		eventually(t, 15*time.Second, "a's write in Redis", func() bool {
			v, ok, _ := other.GetFresh(ctx, "mine")
			return ok && string(v) == "v"
		})
	})

	t.Run("beyond the timeout", func(t *testing.T) {
		a := slow(100 * time.Millisecond)
		start := time.Now()
		a.Set(ctx, "hot", []byte("v"), time.Hour) // L1 has it; L2 write is cut
		slowest := time.Since(start)
		for i := 0; i < 50; i++ {
			start := time.Now()
			a.Get(ctx, fmt.Sprintf("cold-%d", i))
			if v, ok, _ := a.Get(ctx, "hot"); !ok || string(v) != "v" {
				t.Fatal("L1 entry not served while L2 is slow")
			}
			slowest = max(slowest, time.Since(start))
		}
		t.Logf("with 200 ms per command and a 100 ms L2Timeout: slowest call %v, %d L2 failures, %d pending writes", slowest.Round(time.Millisecond), a.L2Failures(), a.PendingWrites())
		if a.L2Failures() == 0 {
			t.Fatal("the circuit never tripped on a latency beyond the timeout")
		}
		if slowest > 100*time.Millisecond+2*time.Second {
			t.Fatalf("a call took %v, far beyond L2Timeout", slowest)
		}
		link.SetMode(redistest.Pass)
		eventually(t, 15*time.Second, "the cut write applied once the latency went", func() bool {
			v, ok, _ := other.GetFresh(ctx, "hot")
			return ok && string(v) == "v" && a.PendingWrites() == 0
		})
	})
	redistest.CheckTTLs(t, srv.Addr)
}

// TestLockAcrossSentinelFailover: a lock acquired on a master that dies
// before replicating it is gone on the promoted replica, so a second
// instance can take it. With LockReplicas the lock is only held once a
// replica acknowledged it, and it survives the failover; without, Held
// tells the first holder it lost the lock.
func TestLockAcrossSentinelFailover(t *testing.T) {
	t.Parallel()
	failoverStore := func(t *testing.T, sent *redistest.Sentinel, replicas int) *redisstore.Store {
		rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: sent.MasterName, SentinelAddrs: sent.SentinelAddrs(), ContextTimeoutEnabled: true})
		t.Cleanup(func() { rdb.Close() })
		return redisstore.New(rdb, redisstore.Options{Prefix: "lock:", LockReplicas: replicas})
	}
	ctx := context.Background()

	t.Run("acknowledged lock survives", func(t *testing.T) {
		t.Parallel()
		// Two replicas: after the failover one is left to acknowledge locks
		// (with one, LockReplicas=1 refuses locks until the old master
		// returns as a replica).
		sent := redistest.StartSentinel(t, redistest.SentinelOptions{Replicas: 2})
		a, b := failoverStore(t, sent, 1), failoverStore(t, sent, 1)
		l, err := a.Lock(ctx, "alice", 15*time.Second)
		if err != nil {
			t.Fatalf("Lock with a healthy replica: %v", err)
		}
		old, _ := sent.MasterAddr()
		sent.KillMaster(t)
		sent.WaitFailover(t, old)
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if l2, err := b.Lock(short, "alice", 15*time.Second); err == nil {
			l2.Unlock(ctx)
			t.Fatal("a second instance took an acknowledged lock after the failover")
		}
		eventually(t, 15*time.Second, "Held on the new master", func() bool { return l.(cachestore.Lease).Held(ctx) == nil })
		l.Unlock(ctx)
		// The remaining replica follows the new master after a resync.
		eventually(t, 30*time.Second, "Lock after the release", func() bool {
			l3, err := b.Lock(ctx, "alice", 15*time.Second)
			if err == nil {
				l3.Unlock(ctx)
			}
			return err == nil
		})
	})

	t.Run("unreplicated lock", func(t *testing.T) {
		t.Parallel()
		sent := redistest.StartSentinel(t, redistest.SentinelOptions{})
		sent.ReplicaLinks[0].SetMode(redistest.Stall) // the replica receives nothing
		careful, careless, other := failoverStore(t, sent, 1), failoverStore(t, sent, 0), failoverStore(t, sent, 0)
		if _, err := careful.Lock(ctx, "alice", 15*time.Second); !errors.Is(err, cachestore.ErrLockNotReplicated) {
			t.Fatalf("Lock with LockReplicas and no acknowledging replica = %v, want ErrLockNotReplicated", err)
		}
		// What LockReplicas prevents: a lock taken without waiting...
		l, err := careless.Lock(ctx, "alice", 15*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		old, _ := sent.MasterAddr()
		sent.KillMaster(t)
		sent.WaitFailover(t, old)
		// ...is gone on the promoted replica, and another instance takes it.
		l2, err := other.Lock(ctx, "alice", 15*time.Second)
		if err != nil {
			t.Fatalf("the unreplicated lock was expected to vanish: %v", err)
		}
		defer l2.Unlock(ctx)
		// The first holder can tell before it spends anything.
		if err := l.(cachestore.Lease).Held(ctx); !errors.Is(err, cachestore.ErrLockLost) {
			t.Fatalf("Held after losing the lock in the failover = %v, want ErrLockLost", err)
		}
		l.Unlock(ctx) // deletes nothing of the new holder's
		if err := l2.(cachestore.Lease).Held(ctx); err != nil {
			t.Fatalf("the new holder lost its lock to the old holder's Unlock: %v", err)
		}
		m, _ := sent.MasterAddr()
		redistest.CheckTTLs(t, m)
	})
}
