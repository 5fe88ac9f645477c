package identityweb_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/internal/redistest"
	"github.com/identityweb/go-identityweb/session"
)

// Idle and absolute session lifetimes, on the fake clock, across two
// instances sharing sessions (one scs store) and tokens (an encrypted Redis
// L2): activity on either instance keeps the session alive, and whichever
// instance sees it past a bound sends the browser to sign in and removes
// its tokens from L2 and, through invalidation, from the other's L1.
func TestSessionLifetimesAcrossInstances(t *testing.T) {
	srv := redistest.Start(t)
	e := newEnv(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	l2 := sharedL2(t, srv.Addr, ring, e.clk)
	store := memstore.New()
	sids := make(chan string, 4)
	type node struct {
		app *identityweb.App
		l1  *cachestore.Memory
		url string
	}
	var nodes []node
	for range 2 {
		l1 := cachestore.NewMemory(cachestore.MemoryOptions{Clock: e.clk})
		tr := cachestore.NewTiered(l1, l2, cachestore.TieredOptions{CircuitBreak: 500 * time.Millisecond, Logger: quiet()})
		t.Cleanup(func() { tr.Close() })
		sm := scs.New()
		sm.Store = store
		mgr, _ := session.NewSCS(sm, session.SCSOptions{})
		app, err := identityweb.New(identityweb.Config{Instance: e.idp.URL + "/", TenantID: tenant, ClientID: iwt.WebAppClientID,
			ClientSecret: iwt.WebAppSecret, Scopes: []string{apiScope}},
			identityweb.AppOptions{Options: identityweb.Options{HTTPClient: e.idp.Client(), Clock: e.clk, Cache: tr, Logger: quiet()},
				Sessions: mgr, SessionIdleTimeout: 30 * time.Minute, SessionLifetime: 8 * time.Hour,
				OnSignedIn: func(r *http.Request, _ identityweb.Account, id *identityweb.Claims) error {
					var c struct{ Sid string }
					id.Decode(&c)
					sids <- c.Sid
					return nil
				}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { app.Close() })
		hs := httptest.NewServer(app.Handler(app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("hello"))
		}))))
		t.Cleanup(hs.Close)
		nodes = append(nodes, node{app, l1, hs.URL})
	}
	jar, _ := cookiejar.New(nil)
	follow := &http.Client{Jar: jar, Transport: e.idp.Client().Transport}
	browser := &http.Client{Jar: jar, Transport: e.idp.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	signIn := func() []string {
		t.Helper()
		if code, body := get(t, follow, nodes[0].url+"/"); code != 200 || body != "hello" {
			t.Fatalf("sign-in: %d %q", code, body)
		}
		sid := <-sids
		if sid == "" {
			t.Fatal("no sid in identitywebtest's ID token")
		}
		var keys []string
		for _, p := range identityweb.IndexedForTest(nodes[0].app, e.idp.Issuer(tenant), sid) {
			keys = append(keys, identityweb.TokenKeysForTest(nodes[0].app, p)...)
			keys = append(keys, identityweb.SessionRecordKeyForTest(nodes[0].app, p))
		}
		if len(keys) < 2 {
			t.Fatalf("keys of the session: %d", len(keys))
		}
		return keys
	}
	served := func(i int) bool {
		t.Helper()
		resp, err := browser.Get(nodes[i].url + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode == 200:
			return true
		case resp.StatusCode == http.StatusFound && strings.HasPrefix(resp.Header.Get("Location"), e.idp.URL):
			return false
		}
		t.Fatalf("instance %d answered %d", i, resp.StatusCode)
		return false
	}
	// tokensGone waits (a bound, not a timing assertion) for the session's
	// tokens to be gone from L2 and from both L1s.
	tokensGone := func(keys []string) {
		t.Helper()
		tokens := keys[:len(keys)-1] // the record stays, ended
		deadline := time.Now().Add(5 * time.Second)
		for {
			held := 0
			for _, k := range tokens {
				if _, ok, _ := l2.Get(context.Background(), k); ok {
					held++
				}
				for _, n := range nodes {
					if _, ok := n.l1.Lookup(k); ok {
						held++
					}
				}
			}
			if held == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d copies of the ended session's tokens remain", held)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	t.Run("idle", func(t *testing.T) {
		keys := signIn()
		for i := range 4 { // active every 20 minutes, on alternate instances
			e.clk.Advance(20 * time.Minute)
			if !served(i % 2) {
				t.Fatalf("refused after 20 minutes idle (step %d)", i)
			}
		}
		e.clk.Advance(30*time.Minute + time.Second)
		if served(1) {
			t.Fatal("served after 30 minutes idle")
		}
		tokensGone(keys)
		if served(0) {
			t.Fatal("the other instance serves the expired session")
		}
	})
	t.Run("absolute", func(t *testing.T) {
		keys := signIn()
		for i := 0; i < 23; i++ { // 7 h 40 min of activity
			e.clk.Advance(20 * time.Minute)
			if !served(i % 2) {
				t.Fatalf("refused after %v", time.Duration(i+1)*20*time.Minute)
			}
		}
		e.clk.Advance(20 * time.Minute) // 8 h since sign-in
		if served(0) {
			t.Fatal("served 8 hours after sign-in")
		}
		tokensGone(keys)
		if served(1) {
			t.Fatal("the other instance serves the expired session")
		}
	})
}
