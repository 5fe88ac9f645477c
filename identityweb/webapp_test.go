package identityweb_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/sessions"
	"github.com/identityweb/go-identityweb/identityweb"

	"github.com/identityweb/go-identityweb/cachestore"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/session"
)

// site is a web app signed in through the development provider, calling a
// protected downstream API (the development web API registration).
type site struct {
	t        *testing.T
	idp      *iwt.Server
	app      *identityweb.App
	api      *identityweb.App
	srv      *httptest.Server
	apiSrv   *httptest.Server
	cache    *cachestore.Memory
	logs     *logBuffer
	needACRS atomic.Bool // the API demands the c1 authentication context
}

const acrsClaims = `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`

func newSite(t *testing.T, mutate ...func(*identityweb.AppOptions)) *site {
	t.Helper()
	s := &site{t: t, logs: &logBuffer{}, cache: cachestore.NewMemory(cachestore.MemoryOptions{})}
	s.idp = iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	logger := slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// The downstream API: validates bearer tokens for the web API's audience.
	api, err := identityweb.New(identityweb.Config{Instance: s.idp.URL + "/", TenantID: tenant,
		ClientID: iwt.WebAPIClientID, ClientSecret: iwt.WebAPISecret},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: s.idp.Client(), Logger: logger}})
	if err != nil {
		t.Fatal(err)
	}
	s.api = api
	apiMux := http.NewServeMux()
	apiMux.Handle("/todos", api.RequireBearer(identityweb.RequireScopes("access_as_user"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := identityweb.ClaimsFromContext(r.Context())
		var extra struct {
			Acrs []string `json:"acrs"`
		}
		c.Decode(&extra)
		if s.needACRS.Load() && len(extra.Acrs) == 0 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="x", error="insufficient_claims", claims="`+base64.StdEncoding.EncodeToString([]byte(acrsClaims))+`"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "todos of %s", c.Name)
	})))
	s.apiSrv = httptest.NewServer(apiMux)
	t.Cleanup(s.apiSrv.Close)

	opts := identityweb.AppOptions{Options: identityweb.Options{HTTPClient: s.idp.Client(), Logger: logger, Cache: s.cache}, InsecureAllowHTTPCookies: true}
	for _, m := range mutate {
		m(&opts)
	}
	app, err := identityweb.New(identityweb.Config{Instance: s.idp.URL + "/", TenantID: tenant,
		ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret, Scopes: []string{apiScope}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.app = app
	todo, err := app.DownstreamClient(identityweb.DownstreamAPI{BaseURL: s.apiSrv.URL, Scopes: []string{apiScope}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "public home") })
	mux.Handle("/me", app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acct, _ := identityweb.AccountFromContext(r.Context())
		fmt.Fprintf(w, "hello %s <form method=post action=%s><input name=csrf value=%q></form>", acct.Name, app.SignOutPath(), app.CSRFToken(r))
	})))
	mux.Handle("/call", app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, s.apiSrv.URL+"/todos", nil)
		resp, err := todo.Do(req)
		if err != nil {
			app.Challenge(w, r, err)
			return
		}
		defer resp.Body.Close()
		io.Copy(w, resp.Body)
	})))
	mux.Handle("/write", app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := app.Token(r.Context(), identityweb.AsUser, []string{apiScope2})
		if err != nil {
			app.Challenge(w, r, err)
			return
		}
		fmt.Fprintf(w, "write token from %s", res.Metadata.Source)
	})))
	s.srv = httptest.NewServer(app.Handler(mux))
	t.Cleanup(s.srv.Close)
	return s
}

// browser returns a cookie-keeping client that follows redirects between
// the app (http) and the provider (https, trusted).
func (s *site) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Transport: s.idp.Client().Transport, Timeout: 30 * time.Second}
}

func (s *site) get(c *http.Client, path string) (int, string) {
	s.t.Helper()
	resp, err := c.Get(s.srv.URL + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func sessionCookie(c *http.Client, u string) string {
	pu, _ := url.Parse(u)
	for _, k := range c.Jar.Cookies(pu) {
		if k.Name == "idw_session" {
			return k.Value
		}
	}
	return ""
}

var reCSRF = regexp.MustCompile(`name=csrf value="([^"]+)"`)

func TestWebAppSignInCallSignOut(t *testing.T) {
	s := newSite(t)
	webAppFlow(t, s)
}

// Gorilla sessions, server-side (files) and in the cookie, run the same flow.
func TestWebAppOnGorillaSessions(t *testing.T) {
	hashKey, blockKey := []byte(strings.Repeat("h", 32)), []byte(strings.Repeat("b", 32))
	for name, store := range map[string]sessions.Store{
		"filesystem": sessions.NewFilesystemStore(t.TempDir(), hashKey, blockKey),
		"cookie":     sessions.NewCookieStore(hashKey, blockKey),
	} {
		t.Run(name, func(t *testing.T) {
			gs, err := session.NewGorilla(store, session.GorillaOptions{InsecureAllowHTTPCookies: true})
			if err != nil {
				t.Fatal(err)
			}
			s := newSite(t, func(o *identityweb.AppOptions) { o.Sessions = gs })
			b := s.browser()
			nr := *b
			nr.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			resp, _ := nr.Get(s.srv.URL + "/me")
			resp.Body.Close()
			anon := sessionCookie(b, s.srv.URL)
			s.get(b, "/me")
			if signedIn := sessionCookie(b, s.srv.URL); signedIn == "" || signedIn == anon {
				t.Fatal("the session cookie was not renewed at sign-in")
			}
			webAppFlow(t, s, b)
		})
	}
}

// signedOutEntries: the ended record, the sid and sub index entries, and
// the sign-in key.
const signedOutEntries = 4

func webAppFlow(t *testing.T, s *site, browsers ...*http.Client) {
	t.Helper()
	b := s.browser()
	if len(browsers) > 0 {
		b = browsers[0]
	}
	if code, body := s.get(b, "/"); code != 200 || body != "public home" {
		t.Fatalf("public page: %d %q", code, body)
	}
	code, body := s.get(b, "/me?tab=1")
	if code != 200 || !strings.HasPrefix(body, "hello Alice Example") {
		t.Fatalf("after sign-in: %d %q", code, body)
	}
	if code, body := s.get(b, "/call"); code != 200 || body != "todos of Alice Example" {
		t.Fatalf("downstream call: %d %q", code, body)
	}
	if n := s.idp.TokenRequests("authorization_code"); n != 1 {
		t.Fatalf("code redemptions = %d", n)
	}
	// Sign-out by GET, or without the CSRF token, is refused.
	resp, _ := b.Get(s.srv.URL + "/signout")
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /signout = %d", resp.StatusCode)
	}
	resp, _ = b.PostForm(s.srv.URL+"/signout", url.Values{"csrf": {"forged"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST /signout with a forged token = %d", resp.StatusCode)
	}
	csrf := reCSRF.FindStringSubmatch(body)[1]
	resp, err := b.PostForm(s.srv.URL+"/signout", url.Values{"csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(out) != "public home" || resp.Request.URL.Path != "/" {
		t.Fatalf("after sign-out: %s %q", resp.Request.URL, out)
	}
	// The tokens are gone; what stays is the ended session's record (kept
	// until the session would have expired, so the session is refused on
	// every instance), the index entries from the provider's session and
	// user to it (expiring with it), and the app's key for sign-ins in
	// progress (shared by the instances through the cache).
	if n := s.cache.Len(); n != signedOutEntries {
		t.Fatalf("sign-out left %d entries in the token cache, want %d", n, signedOutEntries)
	}
	// The next protected page goes through sign-in again.
	s.get(b, "/me")
	if n := s.idp.TokenRequests("authorization_code"); n != 2 {
		t.Fatalf("code redemptions after sign-out = %d, want 2", n)
	}
}

func TestSessionRenewedAtSignInAndCookieFlags(t *testing.T) {
	sessions, err := session.NewSCS(nil, session.SCSOptions{InsecureAllowHTTPCookies: true})
	if err != nil {
		t.Fatal(err)
	}
	s := newSite(t, func(o *identityweb.AppOptions) { o.Sessions = sessions })
	b := s.browser()
	noRedirect := *b
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirect.Get(s.srv.URL + "/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// Starting a sign-in creates no session: the sign-in in progress
	// travels in its own short-lived cookie.
	var pending string
	for _, c := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "idw_session=") {
			t.Fatalf("an anonymous visitor got a session: %q", c)
		}
		if strings.HasPrefix(c, "idw_signin_") {
			pending = c
		}
	}
	for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Max-Age=900", "Path=/"} {
		if !strings.Contains(pending, attr) {
			t.Fatalf("sign-in cookie %q lacks %s", pending, attr)
		}
	}
	// The app keeps data of its own for an anonymous visitor: that session
	// gets a new id at sign-in (fixation).
	w := httptest.NewRecorder()
	sessions.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sessions.Manager().Put(r.Context(), "cart", "3 items")
	})).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	u, _ := url.Parse(s.srv.URL)
	b.Jar.SetCookies(u, w.Result().Cookies())
	anon := sessionCookie(b, s.srv.URL)
	s.get(b, "/me")
	if after := sessionCookie(b, s.srv.URL); anon == "" || after == "" || after == anon {
		t.Fatal("the session id was not renewed at sign-in")
	}
	// Secure on https (only this test's app allows http cookies).
	app, _ := identityweb.New(identityweb.Config{Instance: s.idp.URL + "/", TenantID: tenant, ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: s.idp.Client()}})
	rec := httptest.NewRecorder()
	app.Handler(app.RequireUser(http.NotFoundHandler())).ServeHTTP(rec, httptest.NewRequest("GET", "https://app.example/me", nil))
	if c := rec.Header().Get("Set-Cookie"); !strings.HasPrefix(c, "idw_signin_") || !strings.Contains(c, "Secure") || !strings.Contains(c, "HttpOnly") {
		t.Fatalf("default cookie = %q", c)
	}
}

func TestIncrementalConsent(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	s.get(b, "/me")
	// Todo.ReadWrite was not consented at sign-in: the page sends the user
	// through sign-in for it and lands back on /write.
	code, body := s.get(b, "/write")
	if code != 200 || !strings.HasPrefix(body, "write token from") {
		t.Fatalf("/write = %d %q", code, body)
	}
	if n := s.idp.TokenRequests("authorization_code"); n != 2 {
		t.Fatalf("code redemptions = %d, want 2 (sign-in, then consent)", n)
	}
	found := false
	for _, r := range s.idp.Requests() {
		if r.Endpoint == "authorize" && strings.Contains(r.Scope, apiScope2) {
			found = true
		}
	}
	if !found {
		t.Fatal("the second authorization request did not ask for the new scope")
	}
}

func TestClaimsChallengeFromDownstream(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	s.get(b, "/me")
	s.needACRS.Store(true)
	code, body := s.get(b, "/call")
	if code != 200 || body != "todos of Alice Example" {
		t.Fatalf("/call after a claims challenge = %d %q", code, body)
	}
	// The API accepts only tokens carrying acrs c1, which the provider adds
	// only after a sign-in that asked for the claims: a second sign-in ran.
	if s.idp.TokenRequests("authorization_code") != 2 {
		t.Fatalf("the claims challenge did not go back through sign-in (%d redemptions)", s.idp.TokenRequests("authorization_code"))
	}
}

func TestTokensGoneSignsInQuietly(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	s.get(b, "/me")
	s.cache.Clear() // as after a restart with an in-memory cache
	if code, body := s.get(b, "/call"); code != 200 || body != "todos of Alice Example" {
		t.Fatalf("after the cache was lost: %d %q", code, body)
	}
	s.idp.RevokeRefreshTokens(iwt.AliceUsername)
	s.cache.Clear()
	if code, body := s.get(b, "/me"); code != 200 || !strings.HasPrefix(body, "hello") {
		t.Fatalf("after revocation: %d %q", code, body)
	}
}

func TestUsersNeverShareTokens(t *testing.T) {
	s := newSite(t)
	alice, bob := s.browser(), s.browser()
	s.idp.SetAutoSignIn(iwt.AliceUsername)
	s.get(alice, "/me")
	s.idp.SetAutoSignIn(iwt.BobUsername)
	s.idp.GrantConsent(iwt.BobUsername, iwt.WebAppClientID, apiScope)
	s.get(bob, "/me")
	s.idp.SetAutoSignIn("")
	for i := 0; i < 3; i++ {
		if _, body := s.get(alice, "/call"); body != "todos of Alice Example" {
			t.Fatalf("alice got %q", body)
		}
		if _, body := s.get(bob, "/call"); body != "todos of Bob Example" {
			t.Fatalf("bob got %q", body)
		}
	}
	// Bob's cookie in Alice's jar is Bob, never a mix.
	u, _ := url.Parse(s.srv.URL)
	alice.Jar.SetCookies(u, bob.Jar.Cookies(u))
	if _, body := s.get(alice, "/call"); body != "todos of Bob Example" {
		t.Fatalf("with bob's cookie: %q", body)
	}
}

func TestCallbackNegative(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	nr := *b
	nr.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	// startAuth begins a sign-in and returns the provider's redirect back
	// (code and state) without following it.
	startAuth := func() *url.URL {
		resp, err := nr.Get(s.srv.URL + "/signin?returnUrl=/me")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		resp, err = nr.Get(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		back, _ := url.Parse(resp.Header.Get("Location"))
		return back
	}
	status := func(c *http.Client, u string) (int, string) {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	first, second := startAuth(), startAuth()
	cb := s.srv.URL + "/signin-oidc?"
	cases := []struct {
		name   string
		client *http.Client
		url    string
		want   int
	}{
		{"unknown state", &nr, cb + url.Values{"code": {first.Query().Get("code")}, "state": {"forged"}}.Encode(), 400},
		{"another browser's state", func() *http.Client { c := s.browser(); c.CheckRedirect = nr.CheckRedirect; return c }(), first.String(), 400},
		{"missing code", &nr, cb + url.Values{"state": {first.Query().Get("state")}}.Encode(), 400},
		// The code of the second request under the first's state: PKCE
		// verifier and nonce do not match.
		{"wrong PKCE verifier", &nr, cb + url.Values{"code": {second.Query().Get("code")}, "state": {second.Query().Get("state")}}.Encode(), 0},
		{"provider error", &nr, cb + url.Values{"error": {"access_denied"}, "state": {"x"}}.Encode(), 400},
	}
	// Make case 4 a real mismatch: swap the code.
	cases[3].url = cb + url.Values{"code": {first.Query().Get("code")}, "state": {second.Query().Get("state")}}.Encode()
	cases[3].want = 401
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := status(tc.client, tc.url)
			if code != tc.want {
				t.Fatalf("status = %d (%q), want %d", code, body, tc.want)
			}
			if strings.Contains(body, "AADSTS") || strings.Contains(body, "identityweb:") {
				t.Fatalf("internals in the answer: %q", body)
			}
		})
	}
	// Wrong nonce alone: the provider is asked (by a tampered redirect) for
	// another nonce; the verifier still matches, the ID token's nonce not.
	resp, err := nr.Get(s.srv.URL + "/signin?returnUrl=/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	authz, _ := url.Parse(resp.Header.Get("Location"))
	q := authz.Query()
	q.Set("nonce", "attacker-chosen")
	authz.RawQuery = q.Encode()
	resp, err = nr.Get(authz.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code, _ := status(&nr, resp.Header.Get("Location")); code != 401 {
		t.Fatalf("wrong nonce: %d", code)
	}
	// The code redeemed in case 4 cannot be replayed (under a valid state of
	// a new request), and no session exists.
	third := startAuth()
	if code, _ := status(&nr, cb+url.Values{"code": {first.Query().Get("code")}, "state": {third.Query().Get("state")}}.Encode()); code != 401 {
		t.Fatalf("replayed code: %d", code)
	}
	if code, _ := status(&nr, s.srv.URL+"/me"); code != http.StatusFound {
		t.Fatalf("a failed sign-in left a signed-in session (status %d)", code)
	}
}

func TestOpenRedirects(t *testing.T) {
	s := newSite(t)
	for _, target := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "/%5Cevil.example", "/%2F%2Fevil.example", "javascript:alert(1)"} {
		b := s.browser()
		resp, err := b.Get(s.srv.URL + "/signin?returnUrl=" + url.QueryEscape(target))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Request.URL.Host != strings.TrimPrefix(s.srv.URL, "http://") || resp.Request.URL.Path != "/" {
			t.Fatalf("returnUrl %q landed on %s", target, resp.Request.URL)
		}
	}
	// A local path is honoured.
	resp, _ := s.browser().Get(s.srv.URL + "/signin?returnUrl=" + url.QueryEscape("/me?x=1"))
	resp.Body.Close()
	if resp.Request.URL.RequestURI() != "/me?x=1" {
		t.Fatalf("local returnUrl landed on %s", resp.Request.URL)
	}
}

func TestTamperedSessionCookie(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	s.get(b, "/me")
	u, _ := url.Parse(s.srv.URL)
	b.Jar.SetCookies(u, []*http.Cookie{{Name: "idw_session", Value: sessionCookie(b, s.srv.URL) + "x", Path: "/"}})
	nr := *b
	nr.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := nr.Get(s.srv.URL + "/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), s.idp.URL) {
		t.Fatalf("tampered cookie: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestNonBrowserGets401(t *testing.T) {
	s := newSite(t)
	req, _ := http.NewRequest(http.MethodGet, s.srv.URL+"/me", nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 401 || body["error"] != "login_required" || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("JSON client: %d %v", resp.StatusCode, body)
	}
}

func TestNoSecretsInWebAppLogs(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	_, me := s.get(b, "/me")
	s.get(b, "/call")
	s.get(b, "/write")
	csrf := reCSRF.FindStringSubmatch(me)
	cookie := sessionCookie(b, s.srv.URL)
	if csrf != nil {
		b.PostForm(s.srv.URL+"/signout", url.Values{"csrf": {csrf[1]}})
	}
	logs := s.logs.String()
	for _, sec := range []string{iwt.WebAppSecret, iwt.WebAPISecret, cookie, iwt.AliceUsername, iwt.AliceObjectID} {
		if sec != "" && strings.Contains(logs, sec) {
			t.Fatalf("logs contain %.12q", sec)
		}
	}
	if csrf != nil && strings.Contains(logs, csrf[1]) {
		t.Fatal("logs contain the CSRF token")
	}
	if reJWT.MatchString(logs) || regexp.MustCompile(`code\.[A-Za-z0-9_-]{20}`).MatchString(logs) || reRefresh.MatchString(logs) {
		t.Fatalf("logs contain a token or code:\n%s", logs)
	}
}

func TestOnSignedInHook(t *testing.T) {
	idp := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	var seen []string
	refuse := false
	app, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: tenant, ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Logger: quiet()}, InsecureAllowHTTPCookies: true, OnSignedIn: func(_ *http.Request, acct identityweb.Account, idToken *identityweb.Claims) error {
			if idToken == nil || idToken.Subject == "" {
				t.Error("OnSignedIn without the ID token's claims")
			}
			seen = append(seen, acct.Username)
			if refuse {
				return errors.New("not allowed here")
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler(app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "in") }))))
	defer srv.Close()
	s := &site{t: t, idp: idp, srv: srv}
	if code, body := s.get(s.browser(), "/"); code != 200 || body != "in" || len(seen) != 1 || seen[0] != iwt.AliceUsername {
		t.Fatalf("hook: %d %q %v", code, body, seen)
	}
	refuse = true
	b := s.browser()
	if code, _ := s.get(b, "/"); code != http.StatusForbidden {
		t.Fatalf("refused by the hook: %d", code)
	}
	refuse = false
	if code, _ := s.get(b, "/"); code != 200 { // no half-signed-in session was left
		t.Fatalf("after a refusal: %d", code)
	}
}

// RequireUser on a signed-in request costs two allocations beyond scs's own
// load and save of the same session: scs's read of the session's one value
// (scs boxes its context key on every read) and the request passed on with
// the account in its context. It was 12 when the session's key, account,
// token and times were four values read through Account, Key and Times.
func TestRequireUserAllocations(t *testing.T) {
	idp := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	sm, err := session.NewSCS(nil, session.SCSOptions{InsecureAllowHTTPCookies: true})
	if err != nil {
		t.Fatal(err)
	}
	app, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: tenant,
		ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Logger: quiet()}, Sessions: sm})
	if err != nil {
		t.Fatal(err)
	}
	var got identityweb.Account
	h := app.Handler(app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = identityweb.AccountFromContext(r.Context())
		w.WriteHeader(204)
	})))
	srv := httptest.NewServer(h)
	defer srv.Close()
	br := (&site{idp: idp, srv: srv}).browser()
	resp, err := br.Get(srv.URL + "/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req := httptest.NewRequest(http.MethodGet, "/me", nil)
	req.AddCookie(&http.Cookie{Name: "idw_session", Value: sessionCookie(br, srv.URL)})
	original := req.Context()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 204 || got.Username != iwt.AliceUsername {
		t.Fatalf("signed-in request: %d, account %+v", w.Code, got)
	}
	if req.Context() != original {
		t.Fatal("the caller's request was modified")
	}
	bare := app.Handler(app.RequireUser(okHandler))
	withUser := testing.AllocsPerRun(200, func() { bare.ServeHTTP(discardWriter{}, req) })
	scsOnly := testing.AllocsPerRun(200, func() { sm.Manager().LoadAndSave(okHandler).ServeHTTP(discardWriter{}, req) })
	if withUser-scsOnly > 2 {
		t.Fatalf("RequireUser: %.0f allocations, scs's LoadAndSave alone %.0f: %.0f more, want 2", withUser, scsOnly, withUser-scsOnly)
	}
}
