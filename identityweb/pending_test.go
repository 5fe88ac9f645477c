package identityweb_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	"github.com/gorilla/sessions"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/session"
)

// Every cookieless request to a protected page or to /signin stored a
// pending sign-in in the server-side session store, for the session's 24 h
// lifetime: an anonymous client could grow the server's memory at will.
// Pending sign-ins now cost the server nothing: 10,000 cookieless requests
// leave the session store empty.
func TestAnonymousRequestsStoreNothingServerSide(t *testing.T) {
	idp := iwt.NewServer(t, iwt.Options{})
	newApp := func(sessions session.Manager) http.Handler {
		app, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: tenant, ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret},
			identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Logger: quiet()}, Sessions: sessions, InsecureAllowHTTPCookies: true})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle("/me", app.RequireUser(okHandler))
		return app.Handler(mux)
	}
	store := memstore.New()
	sm := scs.New()
	sm.Store = store
	scsSessions, err := session.NewSCS(sm, session.SCSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gorilla, err := session.NewGorilla(sessions.NewFilesystemStore(dir, []byte(strings.Repeat("h", 32)), []byte(strings.Repeat("b", 32))),
		session.GorillaOptions{InsecureAllowHTTPCookies: true})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		h     http.Handler
		count func() int
	}{
		"scs in memory": {newApp(scsSessions), func() int { all, _ := store.All(); return len(all) }},
		"gorilla files": {newApp(gorilla), func() int { files, _ := os.ReadDir(dir); return len(files) }},
	} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for i := 0; i < 10_000; i++ {
				path := "/me?page=" + strings.Repeat("x", i%64)
				if i%2 == 1 {
					path = "/signin?returnUrl=/me"
				}
				w := httptest.NewRecorder()
				tc.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
				if w.Code != http.StatusFound {
					t.Fatalf("request %d: %d", i, w.Code)
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			if n := tc.count(); n != 0 {
				t.Errorf("10,000 cookieless requests left %d sessions in the server-side store", n)
			}
			t.Logf("heap in use after 10,000 cookieless requests: %+d KiB", (int64(after.HeapInuse)-int64(before.HeapInuse))/1024)
		})
	}
}

// The cookie of a sign-in in progress: bounded per browser, sealed (a
// tampered or expired one is refused), and opened by any instance that
// shares the app's SignInKeys — only by those.
func TestPendingSignInCookie(t *testing.T) {
	idp := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	clk := newClock()
	shared, _ := cachestore.NewKeyRing(cachestore.NewKey())
	instance := func(keys *cachestore.KeyRing) *httptest.Server {
		app, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: tenant, ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret,
			RedirectURI: "http://localhost/signin-oidc"}, // every instance's reply URL: the load balancer's
			identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Clock: clk, Logger: quiet()}, InsecureAllowHTTPCookies: true, SignInKeys: keys})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(app.Handler(app.RequireUser(okHandler)))
		t.Cleanup(srv.Close)
		return srv
	}
	one, two, alone := instance(shared), instance(shared), instance(nil)
	browser := func() *http.Client {
		c := (&site{idp: idp}).browser()
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		return c
	}
	// start begins a sign-in on srv and returns the provider's answer: the
	// callback URL's query (code and state).
	start := func(c *http.Client, srv *httptest.Server) string {
		resp, err := c.Get(srv.URL + "/signin?returnUrl=/done")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		resp, err = c.Get(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		u, _ := url.Parse(resp.Header.Get("Location"))
		return u.RawQuery
	}
	callback := func(c *http.Client, srv *httptest.Server, query string) int {
		resp, err := c.Get(srv.URL + "/signin-oidc?" + query)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	pendingCookies := func(c *http.Client, srv *httptest.Server) (n int) {
		u, _ := url.Parse(srv.URL)
		for _, k := range c.Jar.Cookies(u) {
			if strings.HasPrefix(k.Name, "idw_signin_") {
				n++
			}
		}
		return n
	}

	// Started on one instance, completed on another with the same keys.
	b := browser()
	if code := callback(b, two, start(b, one)); code != http.StatusFound {
		t.Fatalf("callback on another instance sharing SignInKeys: %d", code)
	}
	if n := pendingCookies(b, one); n != 0 {
		t.Fatalf("%d sign-in cookies left after the callback", n)
	}
	// The default key is the instance's own.
	b = browser()
	if code := callback(b, alone, start(b, one)); code != http.StatusBadRequest {
		t.Fatalf("callback on an instance with other keys: %d, want 400", code)
	}
	// Replayed (cookie and answer copied before the callback): the cookie
	// carries no server-side state, the provider refuses the used code.
	b = browser()
	q := start(b, one)
	u, _ := url.Parse(one.URL)
	saved := b.Jar.Cookies(u)
	if code := callback(b, one, q); code != http.StatusFound {
		t.Fatalf("callback: %d", code)
	}
	replay := browser()
	replay.Jar.SetCookies(u, saved)
	if code := callback(replay, one, q); code != http.StatusUnauthorized {
		t.Fatalf("replayed sign-in cookie and code: %d, want 401", code)
	}
	// Tampered.
	b = browser()
	q = start(b, one)
	var forged []*http.Cookie
	for _, k := range b.Jar.Cookies(u) {
		if strings.HasPrefix(k.Name, "idw_signin_") {
			k.Value = k.Value[:len(k.Value)-4] + "AAAA"
			forged = append(forged, k)
		}
	}
	b.Jar.SetCookies(u, forged)
	if code := callback(b, one, q); code != http.StatusBadRequest {
		t.Fatalf("tampered sign-in cookie: %d, want 400", code)
	}
	// Expired: 15 minutes.
	b = browser()
	q = start(b, one)
	clk.Advance(16 * time.Minute)
	if code := callback(b, one, q); code != http.StatusBadRequest {
		t.Fatalf("sign-in completed after 16 minutes: %d, want 400", code)
	}
	// A browser that keeps starting sign-ins holds a few cookies at most.
	b = browser()
	for i := 0; i < 20; i++ {
		resp, err := b.Get(one.URL + "/signin")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if n := pendingCookies(b, one); n > 5 {
		t.Fatalf("20 sign-ins left %d cookies", n)
	}
}
