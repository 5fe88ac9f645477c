package identityweb_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/sessions"
	"github.com/redis/go-redis/v9"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/cachestore/redisstore"
	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/internal/redistest"
	"github.com/identityweb/go-identityweb/session"
)

// webInstance is one instance of a web app behind a load balancer: its own
// App, token cache (L1 over the shared Redis L2) and HTTP server, with
// sessions in gorilla cookies that every instance can open.
type webInstance struct {
	app   *identityweb.App
	cache *cachestore.Tiered
	srv   *httptest.Server
}

// cookieSessions is a gorilla cookie store shared by the instances of an app.
func cookieSessions(t *testing.T) *session.Gorilla {
	store := sessions.NewCookieStore([]byte(strings.Repeat("h", 32)), []byte(strings.Repeat("b", 32)))
	gs, err := session.NewGorilla(store, session.GorillaOptions{InsecureAllowHTTPCookies: true})
	if err != nil {
		t.Fatal(err)
	}
	return gs
}

// newWebInstance starts an instance whose Redis client goes to redisAddr
// (the server, or a proxy in front of it); its circuit breaker runs on clk.
func newWebInstance(t *testing.T, e *env, redisAddr string, ring *cachestore.KeyRing, mutate ...func(*identityweb.AppOptions)) *webInstance {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr, ContextTimeoutEnabled: true, MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	l2 := cachestore.NewEncrypted(redisstore.New(rdb, redisstore.Options{Prefix: "app:"}), ring, cachestore.EncryptedOptions{Clock: e.clk, Logger: quiet()})
	cache := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{Clock: e.clk}), l2,
		cachestore.TieredOptions{CircuitBreak: time.Minute, Clock: e.clk, Logger: quiet()})
	t.Cleanup(func() { cache.Close() })
	opts := identityweb.AppOptions{Options: identityweb.Options{HTTPClient: e.idp.Client(), Clock: e.clk, Cache: cache, Logger: quiet()},
		Sessions: cookieSessions(t), InsecureAllowHTTPCookies: true}
	for _, m := range mutate {
		m(&opts)
	}
	app, err := identityweb.New(identityweb.Config{Instance: e.idp.URL + "/", TenantID: tenant,
		ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret, Scopes: []string{apiScope}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	mux := http.NewServeMux()
	mux.Handle("/me", app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acct, _ := identityweb.AccountFromContext(r.Context())
		fmt.Fprintf(w, "hello %s <form method=post action=%s><input name=csrf value=%q></form>", acct.Name, app.SignOutPath(), app.CSRFToken(r))
	})))
	mux.HandleFunc("/account", func(w http.ResponseWriter, r *http.Request) { // no RequireUser
		if acct, ok := app.Account(r); ok {
			fmt.Fprintf(w, "account %s", acct.Name)
			return
		}
		fmt.Fprint(w, "anonymous")
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) { // no RequireUser either
		if _, err := app.Token(r.Context(), identityweb.AsUser, []string{apiScope}); err != nil {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "token")
	})
	srv := httptest.NewServer(app.Handler(mux))
	t.Cleanup(srv.Close)
	return &webInstance{app: app, cache: cache, srv: srv}
}

// replay sends path to the instance with exactly the given session cookie
// (as an attacker replaying a copied cookie would), without following
// redirects.
func (w *webInstance) replay(t *testing.T, path, cookie string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, w.srv.URL+path, nil)
	req.AddCookie(&http.Cookie{Name: "idw_session", Value: cookie})
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusFound {
		return resp.StatusCode, resp.Header.Get("Location")
	}
	return resp.StatusCode, string(b)
}

// signIn signs Alice in through the instance (the provider signs her in at
// once) and returns her browser, the CSRF token of her page and her session
// cookie.
func (w *webInstance) signIn(t *testing.T, idp *iwt.Server) (jar *http.Client, csrf, cookie string) {
	t.Helper()
	jar = (&site{t: t, idp: idp, srv: w.srv}).browser()
	resp, err := jar.Get(w.srv.URL + "/me")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := reCSRF.FindStringSubmatch(string(page))
	if m == nil {
		t.Fatalf("sign-in: %d %q", resp.StatusCode, page)
	}
	return jar, m[1], sessionCookie(jar, w.srv.URL)
}

// signOut posts the sign-out form to the instance with the session cookie,
// and returns the answer (not followed) and its body.
func (w *webInstance) signOut(t *testing.T, cookie, csrf string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.srv.URL+"/signout", strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "idw_session", Value: cookie})
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// openCircuit makes one L2 read of cache fail through proxy, its network to
// Redis: the circuit opens (until the fake clock moves past CircuitBreak).
// Redis itself is fine again at once.
func openCircuit(t *testing.T, proxy *redistest.Proxy, cache *cachestore.Tiered) {
	t.Helper()
	proxy.SetMode(redistest.Reset)
	cache.Get(context.Background(), "a key no one wrote")
	proxy.SetMode(redistest.Pass)
	if cache.L2Failures() == 0 {
		t.Fatal("the failed read did not reach L2")
	}
}

// signedOutEverywhere fails t when an instance still treats the replayed
// pre-sign-out cookie as signed in, or still hands out the user's token.
func signedOutEverywhere(t *testing.T, when, cookie, idpURL string, instances ...*webInstance) {
	t.Helper()
	for i, in := range instances {
		if code, where := in.replay(t, "/me", cookie); code != http.StatusFound || !strings.HasPrefix(where, idpURL) {
			t.Errorf("%s: instance %d served a protected page to the pre-sign-out cookie: %d %.60q", when, i+1, code, where)
		}
		if _, body := in.replay(t, "/account", cookie); body != "anonymous" {
			t.Errorf("%s: instance %d: App.Account of the pre-sign-out cookie = %q", when, i+1, body)
		}
		if code, body := in.replay(t, "/token", cookie); code == http.StatusOK {
			t.Errorf("%s: instance %d handed out the signed-out user's token: %q", when, i+1, body)
		}
	}
}

// Sign-out must hold when Redis hiccups: while instance 1's L2 circuit is
// open (one failed read), signing out there must still end the session on
// every instance, including for a copy of the cookie taken before sign-out,
// and stay ended after the circuit closes.
func TestSignOutHoldsWhileRedisCircuitIsOpen(t *testing.T) {
	srv := redistest.Start(t)
	e := newEnv(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	hiccup := redistest.StartProxy(t, srv.Addr) // instance 1's network to Redis
	one := newWebInstance(t, e, hiccup.Addr, ring)
	two := newWebInstance(t, e, srv.Addr, ring)

	// Alice signs in on instance 1; instance 2 serves her through L2.
	_, csrf, cookie := one.signIn(t, e.idp)
	for i, in := range []*webInstance{one, two} {
		if code, body := in.replay(t, "/me", cookie); code != 200 || !strings.HasPrefix(body, "hello Alice") {
			t.Fatalf("instance %d before sign-out: %d %q", i+1, code, body)
		}
		if code, _ := in.replay(t, "/token", cookie); code != 200 {
			t.Fatalf("instance %d before sign-out: no token (%d)", i+1, code)
		}
	}

	// One L2 read fails on instance 1: its circuit opens.
	openCircuit(t, hiccup, one.cache)

	// Sign-out on instance 1 while its circuit is open.
	if resp, _ := one.signOut(t, cookie, csrf); resp.StatusCode != http.StatusFound {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	signedOutEverywhere(t, "circuit open", cookie, e.idp.URL, one)
	// Instance 2 too, while instance 1's circuit is still open: Tiered
	// attempts a delete at once whatever its circuit says, so the delete
	// and its invalidation reach Redis (healthy again) and instance 2.
	signedOutEverywhere(t, "circuit open, other instance", cookie, e.idp.URL, two)

	// The circuit closes; whatever was deferred reaches Redis.
	e.clk.Advance(2 * time.Minute)
	waitFor(t, "instance 1's deferred deletes", func() bool {
		one.cache.Get(context.Background(), "probe") // a call that may probe L2
		return one.cache.PendingDeletes() == 0
	})
	signedOutEverywhere(t, "circuit closed", cookie, e.idp.URL, one, two)
	// A third instance, started now with an empty L1, reads only Redis.
	three := newWebInstance(t, e, srv.Addr, ring)
	signedOutEverywhere(t, "new instance", cookie, e.idp.URL, three)
}

// waitFor polls cond (it never asserts on how long it took; the deadline
// only stops a test that would hang).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not done", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Behind a load balancer the sign-out can land on an instance that never
// served the user (cookie sessions open anywhere): with its circuit open it
// cannot read which access tokens the account holds. Those tokens must not
// outlive the account on any instance.
func TestSignOutOnAColdInstanceEndsTheUsersTokens(t *testing.T) {
	srv := redistest.Start(t)
	e := newEnv(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	hiccup := redistest.StartProxy(t, srv.Addr)
	one := newWebInstance(t, e, srv.Addr, ring)
	two := newWebInstance(t, e, srv.Addr, ring)
	cold := newWebInstance(t, e, hiccup.Addr, ring)

	_, csrf, cookie := one.signIn(t, e.idp)
	if code, _ := two.replay(t, "/token", cookie); code != 200 {
		t.Fatalf("instance 2 before sign-out: no token (%d)", code)
	}
	openCircuit(t, hiccup, cold.cache)

	// The sign-out form posted to the cold instance.
	if resp, _ := cold.signOut(t, cookie, csrf); resp.StatusCode != http.StatusFound {
		t.Fatalf("sign-out on the cold instance: %d", resp.StatusCode)
	}
	e.clk.Advance(2 * time.Minute)
	waitFor(t, "the cold instance's deferred deletes", func() bool {
		cold.cache.Get(context.Background(), "probe")
		return cold.cache.PendingDeletes() == 0
	})
	// The invalidation reached the other instances' L1 (or will: wait for
	// the account to be gone there before checking the tokens).
	waitFor(t, "the sign-out to reach instances 1 and 2", func() bool {
		_, b1 := one.replay(t, "/account", cookie)
		_, b2 := two.replay(t, "/account", cookie)
		return b1 == "anonymous" && b2 == "anonymous"
	})
	signedOutEverywhere(t, "after sign-out on a cold instance", cookie, e.idp.URL, one, two, cold)
}

// With a token cache whose deletes can fail (Redis alone, without
// cachestore.Tiered's durable deletes), a sign-out that could not remove
// the account said it succeeded: the session was ended, and a copy of a
// cookie-stored session still found its account and tokens. It now says it
// failed (503) and keeps the session, so the user can try again. So does a
// second sign-in (consent, claims) that cannot remove the session's
// previous tokens.
func TestSignOutSaysSoWhenTheCacheCannotDelete(t *testing.T) {
	srv := redistest.Start(t)
	if srv.External() {
		t.Skip("needs a private redis-server it can kill")
	}
	e := newEnv(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	cache := cachestore.NewEncrypted(redisstore.New(rdb, redisstore.Options{Prefix: "app:"}), ring, cachestore.EncryptedOptions{Clock: e.clk, Logger: quiet()})
	in := newWebInstance(t, e, srv.Addr, ring, func(o *identityweb.AppOptions) { o.Cache = cache })
	jar, csrf, cookie := in.signIn(t, e.idp)
	srv.Kill()
	// Signing in again (consent, claims) must first remove the session's
	// previous tokens: it fails rather than leave them behind.
	nr := *jar
	nr.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := nr.Get(in.srv.URL + "/signin?returnUrl=/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for i := 0; i < 2 && resp.StatusCode == http.StatusFound; i++ { // the provider, then the callback
		if resp, err = nr.Get(resp.Header.Get("Location")); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if resp.Request.URL.Path != "/signin-oidc" || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("signing in again with the token cache down: %s %d, want the callback's 503", resp.Request.URL.Path, resp.StatusCode)
	}
	resp, body := in.signOut(t, cookie, csrf)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("sign-out with the token cache down: %d, want 503", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "idw_session" && c.MaxAge < 0 {
			t.Fatal("the session was ended although its tokens could not be removed")
		}
	}
	if strings.Contains(body, "identityweb:") || strings.Contains(body, srv.Addr) {
		t.Fatalf("internals in the answer: %q", body)
	}
}
