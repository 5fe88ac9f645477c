package identityweb_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/identityweb"
)

// A key the provider removes from its key set stops validating tokens once
// the set is re-read on its schedule, including tokens already in the
// validated-token cache.
func TestRemovedSigningKeyStopsValidating(t *testing.T) {
	for name, every := range map[string]time.Duration{"default 24 h": 0, "configured 1 h": time.Hour} {
		t.Run(name, func(t *testing.T) {
			op := newFakeOP(t)
			op.mu.Lock()
			op.keys["k2"] = opKeys[1]
			op.mu.Unlock()
			clk := newClock()
			app, err := identityweb.New(identityweb.Config{Authority: op.srv.URL, ClientID: "api-client", ClientSecret: "unused"},
				identityweb.AppOptions{Options: identityweb.Options{HTTPClient: op.srv.Client(), Clock: clk, Logger: quiet()}, SigningKeyRefresh: every})
			if err != nil {
				t.Fatal(err)
			}
			h := app.RequireBearer()(okHandler)
			claims := op.claims(clk.Now())
			claims["exp"] = clk.Now().Add(72 * time.Hour).Unix() // outlives the schedule
			byK1, byK2 := op.sign(t, "k1", claims), op.sign(t, "k2", claims)
			for _, tok := range []string{byK1, byK2, byK2} { // the second byK2 is a cache hit
				if w := call(h, "Bearer "+tok); w.Code != http.StatusNoContent {
					t.Fatalf("before the removal: %d %s", w.Code, w.Body)
				}
			}
			op.mu.Lock()
			delete(op.keys, "k2") // the provider stops publishing k2
			op.mu.Unlock()
			if every == 0 {
				every = 24 * time.Hour
			}
			clk.Advance(every / 2)
			if w := call(h, "Bearer "+byK2); w.Code != http.StatusNoContent {
				t.Fatalf("before the refresh is due: %d", w.Code)
			}
			clk.Advance(every/2 + time.Second)
			if w := call(h, "Bearer "+byK2); w.Code != http.StatusUnauthorized {
				t.Fatalf("a token signed by a removed key, after the scheduled refresh: %d, want 401", w.Code)
			}
			if _, err := app.ValidateToken(t.Context(), byK2); err == nil {
				t.Fatal("ValidateToken accepted a token signed by a removed key")
			}
			if w := call(h, "Bearer "+byK1); w.Code != http.StatusNoContent {
				t.Fatalf("a token of a key still published: %d", w.Code)
			}
		})
	}
}

// Unknown kids while the key set endpoint fails: the failed fetch is
// rate-limited like a successful one (one request, then back-off), and the
// answer is 503 (the keys cannot be had), not 401.
func TestUnknownKidsWhileKeySetFailsBackOff(t *testing.T) {
	op, clk, h := apiDuringRotationWithKeySetDown(t)
	base := op.jwksCalls.Load()
	codes := make([]int, 50)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := op.claims(clk.Now())
			c["jti"] = fmt.Sprint(i)
			w := call(h, "Bearer "+op.sign(t, "k2", c))
			codes[i] = w.Code
			if w.Code == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		}()
	}
	wg.Wait()
	if n := op.jwksCalls.Load() - base; n != 1 {
		t.Errorf("50 tokens with an unknown kid while the key set fails: %d key set requests, want 1", n)
	}
	for i, c := range codes {
		if c != http.StatusServiceUnavailable {
			t.Errorf("token %d: %d, want 503", i, c)
			break
		}
	}
	// The endpoint recovers; after the back-off the new key is fetched.
	op.keysDown.Store(false)
	clk.Advance(time.Minute)
	if w := call(h, "Bearer "+op.sign(t, "k2", op.claims(clk.Now()))); w.Code != 200 {
		t.Fatalf("after recovery: %d", w.Code)
	}
	// Known keys kept validating throughout.
	op.keysDown.Store(true)
	if w := call(h, "Bearer "+op.sign(t, "k1", op.claims(clk.Now()))); w.Code != 200 {
		t.Fatalf("a known key while the set is down: %d", w.Code)
	}
}

// apiDuringRotationWithKeySetDown returns an API that validated a token of
// the provider's key k1, after which the provider published a new key k2
// while its key set endpoint started failing.
func apiDuringRotationWithKeySetDown(t *testing.T) (*fakeOP, *fakeClock, http.Handler) {
	op := newFakeOP(t)
	clk := newClock()
	_, h := apiOn(t, op, clk)
	if w := call(h, "Bearer "+op.sign(t, "k1", op.claims(clk.Now()))); w.Code != 200 {
		t.Fatal(w.Body)
	}
	op.keysDown.Store(true)
	op.mu.Lock()
	op.keys["k2"] = opKeys[1]
	op.mu.Unlock()
	return op, clk, h
}

// The scheduled refresh of the keys runs on the request that finds it due:
// a key set endpoint that hangs then holds up that one request, never the
// others (which go on with the keys they have).
func TestScheduledKeyRefreshHoldsUpOneRequest(t *testing.T) {
	op := newFakeOP(t)
	clk := newClock()
	_, h := apiOn(t, op, clk)
	claims := op.claims(clk.Now())
	claims["exp"] = clk.Now().Add(48 * time.Hour).Unix()
	tok := "Bearer " + op.sign(t, "k1", claims)
	if w := call(h, tok); w.Code != 200 {
		t.Fatal(w.Body)
	}
	clk.Advance(25 * time.Hour)
	hang := make(chan struct{})
	op.keysHang.Store(&hang)
	first := make(chan int)
	go func() { first <- call(h, tok).Code }()
	<-op.hanging // the first request's refresh is at the key set endpoint
	for i := 0; i < 5; i++ {
		if w := call(h, tok); w.Code != 200 {
			t.Fatalf("a request during the refresh: %d", w.Code)
		}
	}
	op.keysHang.Store(nil)
	close(hang)
	if code := <-first; code != 200 {
		t.Fatalf("the request that refreshed the keys: %d", code)
	}
}
