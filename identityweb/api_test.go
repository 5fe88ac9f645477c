package identityweb_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/session"
)

// No request and no caller's mistake makes the library panic: each returns
// an error (or a safe answer) instead.
func TestMisuseIsAnErrorNotAPanic(t *testing.T) {
	e := newEnv(t, iwt.Options{})
	app, err := identityweb.New(identityweb.Config{Instance: e.idp.URL + "/", TenantID: tenant, ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: e.idp.Client(), Clock: e.clk, Logger: quiet()}})
	if err != nil {
		t.Fatal(err)
	}
	bare := context.Background() // never went through the session middleware or RequireBearer
	for name, err := range map[string]error{
		"AsUser without sessions":     func() error { _, err := app.Token(bare, identityweb.AsUser, []string{apiScope}); return err }(),
		"OnBehalfOf without a bearer": func() error { _, err := app.Token(bare, identityweb.OnBehalfOf, []string{"User.Read"}); return err }(),
		"AsApp with two scopes":       func() error { _, err := app.Token(bare, identityweb.AsApp, []string{"a", "b"}); return err }(),
		"unknown identity":            func() error { _, err := app.Token(bare, identityweb.Identity(9), []string{"a"}); return err }(),
		"zero DownstreamAPI":          func() error { _, err := app.DownstreamClient(identityweb.DownstreamAPI{}); return err }(),
		"DownstreamAPI with userinfo": func() error {
			_, err := app.DownstreamClient(identityweb.DownstreamAPI{BaseURL: "https://u:p@api.example/", Scopes: []string{"x"}})
			return err
		}(),
		"empty session key":     func() error { _, err := app.Tokens().Session("").ForUser(bare, []string{apiScope}); return err }(),
		"empty session, remove": app.Tokens().Session("").RemoveAccount(bare),
		"tenant with a slash": func() error {
			_, err := app.Tokens().ForApp(bare, apiDefault, identityweb.WithTenant("t1|api://x/y"))
			return err
		}(),
		"ForApp without scope": func() error { _, err := app.Tokens().ForApp(bare, ""); return err }(),
	} {
		if !errors.Is(err, identityweb.ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", name, err)
		}
	}
	if _, ok := app.Tokens().Session("").Account(bare); ok {
		t.Error("an empty session key has an account")
	}
	if s := identityweb.RefreshReason(200).String(); s != "unknown" {
		t.Errorf("RefreshReason(200) = %q", s)
	}
	// Challenge(nil) and Challenge with a misuse error: a safe 500.
	for _, err := range []error{nil, func() error { _, err := app.Token(bare, identityweb.AsUser, []string{apiScope}); return err }()} {
		w := httptest.NewRecorder()
		app.Challenge(w, httptest.NewRequest("GET", "/", nil), err)
		if w.Code != http.StatusInternalServerError {
			t.Errorf("Challenge(%v) = %d", err, w.Code)
		}
	}
	// RequireUser outside the session middleware: a safe error page, no panic.
	w := httptest.NewRecorder()
	app.RequireUser(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != http.StatusInternalServerError {
		t.Errorf("RequireUser without sessions = %d", w.Code)
	}
}

// OnToken sees every acquisition, from the cache and the provider, and the
// background refreshes no caller waits for.
func TestTokenEventHook(t *testing.T) {
	e := newEnv(t, iwt.Options{AccessTokenLifetime: 4 * time.Hour}) // refresh_in = 2h
	var mu sync.Mutex
	var events []identityweb.TokenEvent
	a := e.daemon(func(_ *identityweb.Config, o *identityweb.Options) {
		o.OnToken = func(_ context.Context, ev identityweb.TokenEvent) {
			mu.Lock()
			ev.Scopes = append([]string(nil), ev.Scopes...)
			events = append(events, ev)
			mu.Unlock()
		}
	})
	if _, err := a.ForApp(bg, apiDefault); err != nil {
		t.Fatal(err)
	}
	a.ForApp(bg, apiDefault)
	e.clk.Advance(2*time.Hour + time.Minute)
	a.ForApp(bg, apiDefault) // served from the cache; starts the background refresh
	identityweb.WaitForBackground(a)
	a.ForApp(bg, "api://unknown/.default") // no such resource: the provider refuses
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 5 {
		t.Fatalf("%d events: %+v", len(events), events)
	}
	first, hit, bgEv, failed := events[0], events[1], events[3], events[4]
	if first.Kind != "app" || first.Metadata.Source != identityweb.SourceIdentityProvider || first.Scopes[0] != apiDefault || first.Err != nil {
		t.Errorf("first = %+v", first)
	}
	if hit.Metadata.Source != identityweb.SourceCache || hit.Background {
		t.Errorf("hit = %+v", hit)
	}
	if !bgEv.Background || bgEv.Metadata.RefreshReason != identityweb.RefreshProactive || bgEv.Err != nil {
		t.Errorf("background = %+v", bgEv)
	}
	if failed.Err == nil {
		t.Errorf("failure = %+v", failed)
	}
}

// Close cancels a background refresh in flight and starts no new one.
func TestCloseCancelsBackgroundRefresh(t *testing.T) {
	e := newEnv(t, iwt.Options{AccessTokenLifetime: 4 * time.Hour})
	a := e.daemon()
	if _, err := a.ForApp(bg, apiDefault); err != nil {
		t.Fatal(err)
	}
	e.idp.SetLatency(time.Hour) // the refresh would hang
	e.clk.Advance(2*time.Hour + time.Minute)
	a.ForApp(bg, apiDefault)
	done := make(chan struct{})
	go func() { a.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not cancel the refresh in flight")
	}
	e.idp.SetLatency(0)
	before := e.idp.TokenRequests()
	a.ForApp(bg, apiDefault) // past refresh_on again: no refresh after Close
	identityweb.WaitForBackground(a)
	if n := e.idp.TokenRequests() - before; n != 0 {
		t.Fatalf("%d refreshes after Close", n)
	}
}

// The reply URL comes from the proxy's forwarded headers only when the app
// trusts them; otherwise a client's own X-Forwarded-Host cannot steer the
// code to another host.
func TestForwardedHeadersOnlyWhenTrusted(t *testing.T) {
	idp := iwt.NewServer(t, iwt.Options{})
	redirect := func(o identityweb.AppOptions, hdr map[string]string) string {
		o.Options = identityweb.Options{HTTPClient: idp.Client(), Logger: quiet()}
		app, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: tenant, ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret}, o)
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", "http://internal:8080/signin", nil)
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		app.Handler(http.NotFoundHandler()).ServeHTTP(w, r)
		u, _ := url.Parse(w.Header().Get("Location"))
		return u.Query().Get("redirect_uri")
	}
	xf := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.contoso.com"}
	for _, tc := range []struct {
		name string
		opts identityweb.AppOptions
		hdr  map[string]string
		want string
	}{
		{"not trusted", identityweb.AppOptions{}, xf, "http://internal:8080/signin-oidc"},
		{"trusted", identityweb.AppOptions{TrustForwardedHeaders: true}, xf, "https://app.contoso.com/signin-oidc"},
		{"RFC 7239", identityweb.AppOptions{TrustForwardedHeaders: true}, map[string]string{"Forwarded": `for=1.2.3.4;proto=https;host="app.contoso.com", for=5.6.7.8`}, "https://app.contoso.com/signin-oidc"},
		{"trusted, bad host", identityweb.AppOptions{TrustForwardedHeaders: true}, map[string]string{"X-Forwarded-Host": "evil.example/x@y"}, "http://internal:8080/signin-oidc"},
		{"a function", identityweb.AppOptions{PublicURL: func(*http.Request) string { return "https://fixed.example/" }}, xf, "https://fixed.example/signin-oidc"},
	} {
		if got := redirect(tc.opts, tc.hdr); got != tc.want {
			t.Errorf("%s: redirect_uri = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// OnRedirectToProvider adds authorize parameters; the protocol's own cannot
// be overridden by it.
func TestAuthorizeParametersHook(t *testing.T) {
	idp := iwt.NewServer(t, iwt.Options{})
	app, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: tenant, ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Logger: quiet()},
			OnRedirectToProvider: func(r *http.Request, q url.Values) {
				q.Set("prompt", "select_account")
				q.Set("login_hint", r.URL.Query().Get("hint"))
				q.Set("client_id", "someone-else")
			}})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	app.Handler(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest("GET", "https://app.example/signin?hint=alice@contoso", nil))
	u, _ := url.Parse(w.Header().Get("Location"))
	q := u.Query()
	if q.Get("prompt") != "select_account" || q.Get("login_hint") != "alice@contoso" || q.Get("client_id") != iwt.WebAppClientID {
		t.Fatalf("authorize parameters: %v", q)
	}
}

// An app whose own scs LoadAndSave is outermost uses Routes: its sessions
// keep their cookie, and sign-in works inside them.
func TestRoutesUnderTheAppsOwnSessions(t *testing.T) {
	idp := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	sm := scs.New() // the app's, with its own cookie name and gob codec
	sm.Cookie.Name = "myapp"
	sm.Cookie.Secure = false
	sessions, err := session.NewSCS(sm, session.SCSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	app, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: tenant, ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Logger: quiet()}, Sessions: sessions})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), "visits", sm.GetInt(r.Context(), "visits")+1) // the app's own data beside ours
		acct, _ := identityweb.AccountFromContext(r.Context())
		w.Write([]byte(acct.Name))
	})))
	h := sm.LoadAndSave(app.Routes(mux))
	srv := httptest.NewServer(h)
	defer srv.Close()
	s := &site{t: t, idp: idp, srv: srv}
	b := s.browser()
	if code, body := s.get(b, "/"); code != 200 || body != "Alice Example" {
		t.Fatalf("signed in under the app's sessions: %d %q", code, body)
	}
	u, _ := url.Parse(srv.URL)
	var names []string
	for _, c := range b.Jar.Cookies(u) { // the jar also holds the provider's (same host)
		names = append(names, c.Name)
	}
	if !slices.Contains(names, "myapp") || slices.Contains(names, "idw_session") {
		t.Fatalf("cookies = %v, want the app's own session cookie only", names)
	}
}
