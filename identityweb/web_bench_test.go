package identityweb_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gorilla/sessions"

	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/internal/dpop"
	"github.com/identityweb/go-identityweb/session"
)

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })

// BenchmarkBearer compares validating the same bearer token on every
// request: RequireBearer with its validated-token cache, without it, and
// go-oidc's verifier alone (remote key set, issuer and audience checks) on
// the same provider.
func BenchmarkBearer(b *testing.B) {
	op := newFakeOP(b)
	now := time.Now()
	claims := op.claims(now)
	tok := op.sign(b, "k1", claims)
	authz := "Bearer " + tok
	run := func(b *testing.B, h http.Handler) {
		req := httptest.NewRequest(http.MethodGet, "/api", nil)
		req.Header.Set("Authorization", authz)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 204 {
			b.Fatalf("status %d", w.Code)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			h.ServeHTTP(discardWriter{}, req)
		}
	}
	b.Run("requirebearer-cache", func(b *testing.B) {
		app, _ := identityweb.New(identityweb.Config{Authority: op.srv.URL, ClientID: "api-client", ClientSecret: "x"},
			identityweb.AppOptions{Options: identityweb.Options{HTTPClient: op.srv.Client(), Logger: quiet()}})
		run(b, app.RequireBearer(identityweb.RequireScopes("read"))(okHandler))
	})
	b.Run("requirebearer-cache-claims", func(b *testing.B) { // the handler reads the claims (its own copy)
		app, _ := identityweb.New(identityweb.Config{Authority: op.srv.URL, ClientID: "api-client", ClientSecret: "x"},
			identityweb.AppOptions{Options: identityweb.Options{HTTPClient: op.srv.Client(), Logger: quiet()}})
		run(b, app.RequireBearer(identityweb.RequireScopes("read"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c, ok := identityweb.ClaimsFromContext(r.Context()); !ok || c.Subject == "" {
				b.Fatal("no claims")
			}
			w.WriteHeader(204)
		})))
	})
	// The floor: what any net/http middleware passing a value on pays — the
	// Request copy r.WithContext makes and a context carrying the value, in
	// one allocation as RequireBearer makes them — with no validation.
	b.Run("floor-request-copy", func(b *testing.B) {
		run(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fr := &floorRequest{ctx: floorContext{Context: r.Context(), v: r.Header["Authorization"][0]}}
			fr.r = *r.WithContext(&fr.ctx)
			okHandler.ServeHTTP(w, &fr.r)
		}))
	})
	b.Run("requirebearer-nocache", func(b *testing.B) {
		app, _ := identityweb.New(identityweb.Config{Authority: op.srv.URL, ClientID: "api-client", ClientSecret: "x"},
			identityweb.AppOptions{Options: identityweb.Options{HTTPClient: op.srv.Client(), Logger: quiet()}, ValidatedTokenCache: -1})
		run(b, app.RequireBearer(identityweb.RequireScopes("read"))(okHandler))
	})
	b.Run("go-oidc-verifier", func(b *testing.B) {
		ctx := oidc.ClientContext(context.Background(), op.srv.Client())
		ks := oidc.NewRemoteKeySet(ctx, op.srv.URL+"/keys")
		v := oidc.NewVerifier(op.srv.URL, ks, &oidc.Config{ClientID: "api-client"})
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRequireUser measures a signed-in request through Handler and
// RequireUser (session load and save, account check in the token cache)
// against the bare handler.
func BenchmarkRequireUser(b *testing.B) {
	idp := iwt.NewServer(b, iwt.Options{AutoSignIn: iwt.AliceUsername})
	sm, err := session.NewSCS(nil, session.SCSOptions{InsecureAllowHTTPCookies: true}) // what New makes by default
	if err != nil {
		b.Fatal(err)
	}
	app, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: tenant,
		ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Logger: quiet()}, Sessions: sm})
	if err != nil {
		b.Fatal(err)
	}
	h := app.Handler(app.RequireUser(okHandler))
	srv := httptest.NewServer(h)
	defer srv.Close()
	s := &site{idp: idp, srv: srv}
	br := s.browser()
	resp, err := br.Get(srv.URL + "/me")
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	cookie := sessionCookie(br, srv.URL)
	req := httptest.NewRequest(http.MethodGet, "/me", nil)
	req.AddCookie(&http.Cookie{Name: "idw_session", Value: cookie})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 204 {
		b.Fatalf("signed-in request: %d", w.Code)
	}
	b.Run("bare-handler", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			okHandler.ServeHTTP(discardWriter{}, req)
		}
	})
	b.Run("handler+requireuser", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			h.ServeHTTP(discardWriter{}, req)
		}
	})
	// identityweb's share alone: RequireUser on a request whose session
	// the middleware has loaded already (what RequireUser adds, without
	// subtracting two noisy whole-request figures).
	b.Run("requireuser-on-loaded-session", func(b *testing.B) { requireUserOnLoaded(b, sm.Middleware, app, req) })
	// The dependency's share: scs's LoadAndSave of the same session (same
	// manager, store, codec and cookie) around the bare handler.
	b.Run("scs-loadandsave-only", func(b *testing.B) {
		scsOnly := sm.Manager().LoadAndSave(okHandler)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			scsOnly.ServeHTTP(discardWriter{}, req)
		}
	})
	// The gorilla cookie store (no server state): the session travels
	// sealed in the cookie.
	gs, _ := session.NewGorilla(sessions.NewCookieStore([]byte(strings.Repeat("h", 32)), []byte(strings.Repeat("b", 32))), session.GorillaOptions{InsecureAllowHTTPCookies: true})
	gapp, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: tenant, ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Logger: quiet()}, Sessions: gs})
	if err != nil {
		b.Fatal(err)
	}
	gh := gapp.Handler(gapp.RequireUser(okHandler))
	gsrv := httptest.NewServer(gh)
	defer gsrv.Close()
	gb := (&site{idp: idp, srv: gsrv}).browser()
	gresp, err := gb.Get(gsrv.URL + "/me")
	if err != nil || gresp.StatusCode != 204 {
		b.Fatalf("gorilla sign-in: %v", err)
	}
	gresp.Body.Close()
	u, _ := url.Parse(gsrv.URL)
	greq := httptest.NewRequest(http.MethodGet, "/me", nil)
	for _, c := range gb.Jar.Cookies(u) {
		greq.AddCookie(c)
	}
	// Each iteration serves a copy of the request: gorilla's registry
	// caches the decoded session in the request it is given (it replaces
	// *r), which would skip the cookie's decode from the second iteration
	// on. The copy costs both lines one allocation.
	b.Run("handler+requireuser-gorilla-cookie", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			r := *greq
			gh.ServeHTTP(discardWriter{}, &r)
		}
	})
	// The dependency's share: the session middleware alone (gorilla's
	// securecookie decode of the same cookie) around the bare handler.
	b.Run("gorilla-middleware-only", func(b *testing.B) {
		only := gs.Middleware(okHandler)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			r := *greq
			only.ServeHTTP(discardWriter{}, &r)
		}
	})
	b.Run("requireuser-on-loaded-session-gorilla", func(b *testing.B) { requireUserOnLoaded(b, gs.Middleware, gapp, greq) })
}

// requireUserOnLoaded measures app's RequireUser alone on a copy of req
// whose session the middleware mw has loaded: identityweb's share of a
// signed-in request, without the session store's.
func requireUserOnLoaded(b *testing.B, mw func(http.Handler) http.Handler, app *identityweb.App, req *http.Request) {
	var loaded *http.Request
	r := *req
	mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { loaded = r })).ServeHTTP(discardWriter{}, &r)
	only := app.RequireUser(okHandler)
	w := httptest.NewRecorder()
	if only.ServeHTTP(w, loaded); w.Code != 204 {
		b.Fatalf("on the loaded session: %d", w.Code)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		only.ServeHTTP(discardWriter{}, loaded)
	}
}

// floorRequest is a request copy and its context in one allocation (see
// the floor-request-copy benchmark).
type floorRequest struct {
	r   http.Request
	ctx floorContext
}

type floorContext struct {
	context.Context
	v string
}

type floorKey struct{}

func (c *floorContext) Value(key any) any {
	if key == (floorKey{}) {
		return c.v
	}
	return c.Context.Value(key)
}

type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(b []byte) (int, error) { return io.Discard.Write(b) }
func (discardWriter) WriteHeader(int)             {}

// BenchmarkDPoP measures what DPoP costs per request: making a proof (the
// client, ES256), verifying one, and RequireBearer in DPoP mode with the
// validated-token cache, next to the bearer path (requirebearer-cache in
// BenchmarkBearer) on the same token shape.
func BenchmarkDPoP(b *testing.B) {
	op := newFakeOP(b)
	now := time.Now()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, _ := dpop.NewSigner(k)
	claims := op.claims(now)
	claims["cnf"] = map[string]string{"jkt": signer.JKT()}
	tok := op.sign(b, "k1", claims)
	const origin = "https://api.example"
	b.Run("proof-create", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := signer.Proof("GET", origin+"/api", now, "", tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("proof-verify", func(b *testing.B) {
		p, _ := signer.Proof("GET", origin+"/api", now, "", tok)
		check := dpop.Check{Method: "GET", URL: origin + "/api", Now: now, MaxAge: time.Minute, MaxSkew: time.Minute, Algs: dpop.Algorithms, AccessToken: tok}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := dpop.Verify(p, check); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("requirebearer-dpop-cache", func(b *testing.B) {
		app, _ := identityweb.New(identityweb.Config{Authority: op.srv.URL, ClientID: "api-client"},
			identityweb.AppOptions{Options: identityweb.Options{HTTPClient: op.srv.Client(), Logger: quiet()},
				PublicURL: func(*http.Request) string { return origin }})
		h := app.RequireBearer(identityweb.RequireScopes("read"))(okHandler)
		// Proofs are single-use: they are made ahead, outside the timing.
		proofs := make([]string, b.N+1)
		for i := range proofs {
			proofs[i], _ = signer.Proof("GET", origin+"/api", now, "", tok)
		}
		req := func(p string) *http.Request {
			r := httptest.NewRequest(http.MethodGet, origin+"/api", nil)
			r.Header.Set("Authorization", "DPoP "+tok)
			r.Header.Set("DPoP", p)
			return r
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req(proofs[b.N]))
		if w.Code != 204 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		reqs := make([]*http.Request, b.N)
		for i := range reqs {
			reqs[i] = req(proofs[i])
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			h.ServeHTTP(discardWriter{}, reqs[i])
		}
	})
}
