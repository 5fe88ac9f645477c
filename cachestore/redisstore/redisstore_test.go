package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

func TestNewWarnsWithoutContextDeadlines(t *testing.T) {
	var buf strings.Builder
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	redisstore.New(rdb, redisstore.Options{Logger: logger})
	if !strings.Contains(buf.String(), "ContextTimeoutEnabled") {
		t.Fatalf("no warning for a client that ignores deadlines: %q", buf.String())
	}
	buf.Reset()
	ok := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer ok.Close()
	redisstore.New(ok, redisstore.Options{Logger: logger})
	if buf.Len() != 0 {
		t.Fatalf("warning for a well-configured client: %q", buf.String())
	}
}

func TestNewFromURLKinds(t *testing.T) {
	for _, tc := range []struct {
		url  string
		kind string
	}{
		{"redis://127.0.0.1:1/3", "*redis.Client"},
		{"rediss://user:pw@127.0.0.1:1", "*redis.Client"},
		{"redis://127.0.0.1:1?master_name=mymaster&addr=127.0.0.1:2", "*redis.Client"}, // Sentinel failover client
		{"redis://127.0.0.1:1?addr=127.0.0.1:2&addr=127.0.0.1:3", "*redis.ClusterClient"},
	} {
		s, err := redisstore.NewFromURL(tc.url, redisstore.Options{})
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		if got := fmt.Sprintf("%T", s.Client()); got != tc.kind {
			t.Errorf("%s gave %s, want %s", tc.url, got, tc.kind)
		}
		s.Close()
	}
	// Bad input is an error, never a panic.
	for _, bad := range []string{"", "mysql://nope", "redis://[::1", "redis://h:1/notadb", "redis://h:1?unknown_param=1",
		"redis://h:1?master_name=m&read_timeout=x", "redis://h:1?addr=h:2&pool_size=-x", "\x00", "redis://%zz"} {
		if s, err := redisstore.NewFromURL(bad, redisstore.Options{}); err == nil {
			s.Close()
			t.Errorf("%q was accepted", bad)
		}
	}
}

func FuzzNewFromURL(f *testing.F) {
	f.Add("redis://127.0.0.1:1/0")
	f.Add("redis://127.0.0.1:1?master_name=m&addr=127.0.0.1:2")
	f.Add("redis://127.0.0.1:1?addr=127.0.0.1:2")
	f.Fuzz(func(t *testing.T, u string) {
		if s, err := redisstore.NewFromURL(u, redisstore.Options{Logger: discard()}); err == nil {
			s.Close()
		}
	})
}

func TestLockHeld(t *testing.T) {
	srv := redistest.Start(t)
	s := single(t, srv)
	ctx := context.Background()
	u, err := s.Lock(ctx, "held", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	l := u.(cachestore.Lease)
	if err := l.Held(ctx); err != nil {
		t.Fatalf("Held right after Lock = %v", err)
	}
	// The lease is renewed: still held after two lease lengths.
	time.Sleep(2 * time.Second)
	if err := l.Held(ctx); err != nil {
		t.Fatalf("Held after 2 leases = %v", err)
	}
	// Another holder now has it (the lease was lost, e.g. in a failover).
	keys, _ := redistest.Do(srv.Addr, "KEYS", "*lock:held")
	redistest.Do(srv.Addr, "SET", strings.TrimSpace(keys), "someone-else", "PX", "10000")
	if err := l.Held(ctx); !errors.Is(err, cachestore.ErrLockLost) {
		t.Fatalf("Held after losing the lock = %v", err)
	}
	u.Unlock(ctx)
	redistest.CheckTTLs(t, srv.Addr)
}

// A subscription whose connection goes silent (Redis or the network
// hangs: no error, no bytes) is found out by its PING and replaced, and
// onResubscribe tells the caller that messages may have been missed.
func TestSubscriptionDetectsSilence(t *testing.T) {
	srv := redistest.Start(t)
	link := redistest.StartProxy(t, srv.Addr)
	rdb := redis.NewClient(&redis.Options{Addr: link.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	s := redisstore.New(rdb, redisstore.Options{Prefix: "silent:", HealthCheck: 100 * time.Millisecond})
	direct := single(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs := make(chan string, 100)
	resub := make(chan struct{}, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Subscribe(ctx, func(b []byte) { msgs <- string(b) }, func() { resub <- struct{}{} })
	}()
	pub := redisstore.New(direct.Client(), redisstore.Options{Prefix: "silent:"})
	eventually(t, 10*time.Second, "the subscription", func() bool {
		pub.Publish(ctx, []byte("hello"))
		select {
		case <-msgs:
			return true
		case <-time.After(20 * time.Millisecond):
			return false
		}
	})
	link.SetMode(redistest.Stall)
	time.Sleep(500 * time.Millisecond) // several health checks go unanswered
	link.SetMode(redistest.Pass)
	select {
	case <-resub:
	case <-time.After(10 * time.Second):
		t.Fatal("a silent subscription was not replaced")
	}
	cancel()
	<-done
}
