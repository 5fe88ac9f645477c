package discovery

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func server(t *testing.T, status *atomic.Int32, hits *atomic.Int32, release chan struct{}) *httptest.Server {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if release != nil {
			<-release
		}
		if s := status.Load(); s != 200 {
			w.WriteHeader(int(s))
			return
		}
		w.Write([]byte(`{"issuer":"` + srv.URL + `","authorization_endpoint":"` + srv.URL + `/a","token_endpoint":"` + srv.URL + `/t","jwks_uri":"` + srv.URL + `/k"}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Many callers waiting for the first document cause one request, not one
// each in turn.
func TestOneFetchForAllWaiters(t *testing.T) {
	var status, hits atomic.Int32
	status.Store(200)
	release := make(chan struct{})
	srv := server(t, &status, &hits, release)
	e := New(Authority{Authority: srv.URL}, srv.Client(), &fakeClock{now: time.Unix(1e9, 0)})
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.Metadata(context.Background())
			errs <- err
		}()
	}
	for hits.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("%d discovery requests for 50 waiters", n)
	}
}

// A failure is remembered for the back-off: callers fail fast, and a
// request goes out again only when it has passed.
func TestFailureBacksOff(t *testing.T) {
	var status, hits atomic.Int32
	status.Store(503)
	srv := server(t, &status, &hits, nil)
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	e := New(Authority{Authority: srv.URL}, srv.Client(), clock)
	for range 20 {
		if _, err := e.Metadata(context.Background()); err == nil {
			t.Fatal("a 503 discovery answered")
		}
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("%d requests during the back-off", n)
	}
	status.Store(200)
	clock.add(minBackoff)
	if _, err := e.Metadata(context.Background()); err != nil {
		t.Fatalf("after the back-off: %v", err)
	}
	if n := hits.Load(); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

// A document older than RefreshEvery is served while one request renews it.
func TestRefreshOnSchedule(t *testing.T) {
	var status, hits atomic.Int32
	status.Store(200)
	srv := server(t, &status, &hits, nil)
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	e := New(Authority{Authority: srv.URL}, srv.Client(), clock)
	if _, err := e.Metadata(context.Background()); err != nil {
		t.Fatal(err)
	}
	clock.add(RefreshEvery - time.Minute)
	e.Metadata(context.Background())
	if hits.Load() != 1 {
		t.Fatal("refetched before RefreshEvery")
	}
	clock.add(2 * time.Minute)
	if _, err := e.Metadata(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for hits.Load() != 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if hits.Load() != 2 {
		t.Fatalf("%d requests after RefreshEvery, want 2", hits.Load())
	}
}
