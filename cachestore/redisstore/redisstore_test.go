package redisstore_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/cachestore/redisstore"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/internal/redistest"
	"github.com/identityweb/go-identityweb/internal/storetest"
)

var prefixN atomic.Int64

// single returns a store on a private Redis, with a fresh prefix per call.
func single(t *testing.T, srv *redistest.Server) *redisstore.Store {
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	return redisstore.New(rdb, redisstore.Options{Prefix: "t" + string(rune('a'+prefixN.Add(1)%26)) + time.Now().Format("150405.000000") + ":"})
}

func TestSingleRedisContract(t *testing.T) {
	srv := redistest.Start(t)
	storetest.Run(t, storetest.Harness{New: func(t *testing.T) cachestore.Store { return single(t, srv) }})
}

func TestClusterContract(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	storetest.Run(t, storetest.Harness{New: func(t *testing.T) cachestore.Store {
		rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), ContextTimeoutEnabled: true})
		t.Cleanup(func() { rdb.Close() })
		return redisstore.New(rdb, redisstore.Options{Prefix: "c" + time.Now().Format("150405.000000") + ":"})
	}})
}

func TestEncryptedTieredOnRedisContract(t *testing.T) {
	srv := redistest.Start(t)
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	// L1 and the sealed expiry follow a fake clock, so TTLs are checked by
	// moving it (Redis's own TTL stays longer, as in production).
	clk := iwt.NewClock(time.Now())
	storetest.Run(t, storetest.Harness{New: func(t *testing.T) cachestore.Store {
		tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk}),
			cachestore.NewEncrypted(single(t, srv), ring, cachestore.EncryptedOptions{Clock: clk}), cachestore.TieredOptions{})
		t.Cleanup(func() { tr.Close() })
		return tr
	}, Advance: clk.Advance})
}

func TestNewFromURL(t *testing.T) {
	srv := redistest.Start(t)
	s, err := redisstore.NewFromURL("redis://"+srv.Addr+"/2", redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, _ := redistest.Do(srv.Addr, "SELECT", "2"); got != "+OK" {
		t.Fatal(got)
	}
	if _, err := redisstore.NewFromURL("mysql://nope", redisstore.Options{}); err == nil {
		t.Fatal("a non-Redis URL was accepted")
	}
	c := redistest.StartCluster(t, 3)
	cs, err := redisstore.NewFromURL("redis://"+c.Addrs()[0]+"?addr="+c.Addrs()[1]+"&addr="+c.Addrs()[2], redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if _, ok := cs.Client().(*redis.ClusterClient); !ok {
		t.Fatalf("cluster URL gave %T", cs.Client())
	}
	if err := cs.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
}

func TestLock(t *testing.T) {
	srv := redistest.Start(t)
	s := single(t, srv)
	ctx := context.Background()
	l1, err := s.Lock(ctx, "user-1", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// A second holder waits, bounded by its context.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(short, "user-1", time.Second); err == nil {
		t.Fatal("two holders at once")
	}
	// The lease is renewed while held: still held after 2.5 leases.
	time.Sleep(2500 * time.Millisecond)
	short2, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	if _, err := s.Lock(short2, "user-1", time.Second); err == nil {
		t.Fatal("lease not renewed")
	}
	got := make(chan error, 1)
	go func() {
		l2, err := s.Lock(ctx, "user-1", time.Second)
		if err == nil {
			err = l2.Unlock(ctx)
		}
		got <- err
	}()
	if err := l1.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("waiter after release: %v", err)
	}
	// Only one of many concurrent takers holds it at a time.
	var holders, maxHolders atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := s.Lock(ctx, "user-2", time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			n := holders.Add(1)
			for {
				m := maxHolders.Load()
				if n <= m || maxHolders.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
			holders.Add(-1)
			l.Unlock(ctx)
		}()
	}
	wg.Wait()
	if maxHolders.Load() != 1 {
		t.Fatalf("%d holders at once", maxHolders.Load())
	}
}

func TestUnlockDoesNotFreeAnotherHoldersLock(t *testing.T) {
	srv := redistest.Start(t)
	s := single(t, srv)
	ctx := context.Background()
	l, _ := s.Lock(ctx, "x", time.Second)
	// Simulate a lease lost to another holder: overwrite the lock.
	keys, _ := redistest.Do(srv.Addr, "KEYS", "*lock:x")
	redistest.Do(srv.Addr, "SET", strings.TrimSpace(keys), "someone-else")
	l.Unlock(ctx)
	if got, _ := redistest.Do(srv.Addr, "GET", strings.TrimSpace(keys)); got != "someone-else" {
		t.Fatalf("Unlock deleted another holder's lock: %q", got)
	}
}

func TestPubSubResubscribes(t *testing.T) {
	srv := redistest.Start(t)
	s := single(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs := make(chan string, 10)
	resub := make(chan struct{}, 10)
	go s.Subscribe(ctx, func(b []byte) { msgs <- string(b) }, func() { resub <- struct{}{} })
	publish := func(p string) {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			s.Publish(ctx, []byte(p))
			select {
			case m := <-msgs:
				if m == p {
					return
				}
			case <-time.After(100 * time.Millisecond):
			}
		}
		t.Fatalf("message %q never arrived", p)
	}
	publish("one")
	srv.Kill()
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	publish("two")
	select {
	case <-resub:
	case <-time.After(10 * time.Second):
		t.Fatal("onResubscribe not called after Redis came back")
	}
}
