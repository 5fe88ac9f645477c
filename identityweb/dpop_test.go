package identityweb_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/cachestore/redisstore"
	"github.com/identityweb/go-identityweb/identityweb"
	"github.com/identityweb/go-identityweb/internal/dpop"
	"github.com/identityweb/go-identityweb/internal/oidcprovidertest"
	"github.com/identityweb/go-identityweb/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// DPoP end to end against oidc-provider: app and user tokens bound to the
// acquirer's key (the provider's nonce answered once), cached, and sent by
// DownstreamClient with a proof per request to an API that requires DPoP
// and its own nonce.
func TestDPoPEndToEnd(t *testing.T) {
	op := oidcprovidertest.Start(t, oidcprovidertest.Options{DPoPRequireNonce: true})
	clients := op.Clients()
	std := func(id, secret string) identityweb.Config {
		return identityweb.Config{Authority: op.Issuer(), ClientID: id, ClientSecret: secret}
	}
	// The API: DPoP only, with a server nonce.
	apiCfg := std("directory-api", "")
	apiCfg.Audiences = []string{oidcprovidertest.ResourceDirectory, oidcprovidertest.ResourceTodo}
	var apiURL string
	api, err := identityweb.New(apiCfg, identityweb.AppOptions{Options: identityweb.Options{Logger: quiet()},
		RequireDPoP: true, DPoPNonceKey: []byte("nonce-key-shared-by-the-instances"),
		PublicURL: func(*http.Request) string { return apiURL }})
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int32
	apiSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		api.RequireBearer()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _ := identityweb.ClaimsFromContext(r.Context())
			fmt.Fprintf(w, "hello %s", c.Subject)
		})).ServeHTTP(w, r)
	}))
	defer apiSrv.Close()
	apiURL = apiSrv.URL

	daemon, err := identityweb.NewTokenAcquirer(std(clients.SecretBasic.ID, clients.SecretBasic.Secret), identityweb.Options{Logger: quiet(), DPoP: "required"})
	if err != nil {
		t.Fatal(err)
	}
	dir := identityweb.WithResource(oidcprovidertest.ResourceDirectory)
	first, err := daemon.ForApp(t.Context(), "directory.read", dir)
	if err != nil {
		t.Fatal(err)
	}
	if first.TokenType != "DPoP" {
		t.Fatalf("token type %q, want DPoP", first.TokenType)
	}
	again, err := daemon.ForApp(t.Context(), "directory.read", dir)
	if err != nil || again.Metadata.Source != identityweb.SourceCache || again.AccessToken != first.AccessToken {
		t.Fatalf("the bound token from the cache: %v %+v", err, again.Metadata)
	}
	// The bearer-only adapter refuses it rather than sending it as bearer.
	if _, err := daemon.AppTokenSource(t.Context(), "directory.read").Token(); err == nil {
		t.Fatal("AppTokenSource handed out a DPoP-bound token")
	}
	// Sent as a bearer token by someone who stole it: refused.
	if w := call(api.RequireBearer()(http.NotFoundHandler()), "Bearer "+first.AccessToken); w.Code != http.StatusUnauthorized {
		t.Fatalf("a bound token as bearer: %d", w.Code)
	}

	// As the app, through DownstreamClient: the API's nonce is answered once.
	app, err := identityweb.New(std(clients.SecretBasic.ID, clients.SecretBasic.Secret),
		identityweb.AppOptions{Options: identityweb.Options{Logger: quiet(), DPoP: "required"}})
	if err != nil {
		t.Fatal(err)
	}
	dc, err := app.DownstreamClient(identityweb.DownstreamAPI{BaseURL: apiSrv.URL, Scopes: []string{"directory.read"},
		As: identityweb.AsApp, Resource: oidcprovidertest.ResourceDirectory})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		before := requests.Load()
		resp, err := dc.Get(apiSrv.URL + "/me")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "hello ") {
			t.Fatalf("call %d: %d %s", i, resp.StatusCode, b)
		}
		if n := requests.Load() - before; (i == 0 && n != 2) || (i > 0 && n != 1) {
			t.Fatalf("call %d took %d requests (the nonce round trip is once)", i, n)
		}
	}

	// A user token, bound at the code redemption and refreshed bound.
	ln, appURL := listen(t)
	webCfg := std(clients.SecretPost.ID, clients.SecretPost.Secret)
	webCfg.Scopes, webCfg.Resources = []string{"todo.read"}, []string{oidcprovidertest.ResourceTodo}
	op2 := oidcprovidertest.Start(t, oidcprovidertest.Options{RedirectURIs: []string{appURL + "/signin-oidc"}, DPoPRequireNonce: true})
	webCfg.Authority = op2.Issuer()
	c2 := op2.Clients().SecretPost
	webCfg.ClientID, webCfg.ClientSecret = c2.ID, c2.Secret
	apiCfg2 := std("todo-api", "")
	apiCfg2.Authority, apiCfg2.Audiences = op2.Issuer(), []string{oidcprovidertest.ResourceTodo}
	var api2URL string
	api2, _ := identityweb.New(apiCfg2, identityweb.AppOptions{Options: identityweb.Options{Logger: quiet()}, RequireDPoP: true,
		PublicURL: func(*http.Request) string { return api2URL }})
	api2Srv := httptest.NewServer(api2.RequireBearer(identityweb.RequireScopes("todo.read"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "todos")
	})))
	defer api2Srv.Close()
	api2URL = api2Srv.URL
	web, err := identityweb.New(webCfg, identityweb.AppOptions{Options: identityweb.Options{Logger: quiet(), DPoP: "auto"}, InsecureAllowHTTPCookies: true})
	if err != nil {
		t.Fatal(err)
	}
	todo, _ := web.DownstreamClient(identityweb.DownstreamAPI{BaseURL: api2Srv.URL, Scopes: []string{"todo.read"}, Resource: oidcprovidertest.ResourceTodo})
	mux := http.NewServeMux()
	mux.Handle("/todos", web.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := web.Token(r.Context(), identityweb.AsUser, []string{"todo.read"}, identityweb.WithResource(oidcprovidertest.ResourceTodo))
		if err != nil || res.TokenType != "DPoP" {
			http.Error(w, fmt.Sprintf("token: %v %s", err, res.TokenType), 500)
			return
		}
		req, _ := http.NewRequestWithContext(r.Context(), "GET", api2Srv.URL+"/todos", nil)
		resp, err := todo.Do(req)
		if err != nil {
			web.Challenge(w, r, err)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})))
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: web.Handler(mux)}}
	srv.Start()
	defer srv.Close()
	browser := op2.NewBrowser()
	s := &suiteSite{t: t, appURL: appURL, p: &suiteProvider{signIn: func(u string, consent bool) (*url.URL, error) {
		return browser.SignIn(u, oidcprovidertest.Alice, consent)
	}}}
	s.c = newAppBrowser()
	if code, body := s.visit("GET", "/todos", nil); code != 200 || body != "todos" {
		t.Fatalf("user token through DPoP: %d %q", code, body)
	}
	if len(s.authorizeRequests) == 0 || !s.authorizeRequests[0].Query().Has("request_uri") {
		t.Fatalf("sign-in did not push its request (PAR): %v", s.authorizeRequests)
	}
}

// dpopAPI is an API on the fake provider that requires DPoP.
func dpopAPI(t *testing.T, op *fakeOP, clk identityweb.Clock, cache cachestore.Store, nonceKey []byte) (http.Handler, string) {
	const origin = "https://api.example"
	app, err := identityweb.New(identityweb.Config{Authority: op.srv.URL, ClientID: "api-client"},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: op.srv.Client(), Clock: clk, Logger: quiet(), Cache: cache},
			DPoPNonceKey: nonceKey, PublicURL: func(*http.Request) string { return origin }})
	if err != nil {
		t.Fatal(err)
	}
	return app.RequireBearer()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })), origin
}

func newDPoPSigner(t *testing.T) *dpop.Signer {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s, err := dpop.NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func dpopCall(h http.Handler, scheme, token string, proofs ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "https://api.example/todos?page=2", nil)
	r.Header.Set("Authorization", scheme+" "+token)
	for _, p := range proofs {
		r.Header.Add("DPoP", p)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// The resource server refuses every way a DPoP proof can be wrong, each
// with 401 and a DPoP challenge, and never a bound token as bearer.
func TestDPoPResourceServerRefusals(t *testing.T) {
	op := newFakeOP(t)
	clk := newClock()
	now := clk.Now()
	key, other := newDPoPSigner(t), newDPoPSigner(t)
	bound := func() string {
		c := op.claims(now)
		c["cnf"] = map[string]string{"jkt": key.JKT()}
		return op.sign(t, "k1", c)
	}()
	plain := op.sign(t, "k1", op.claims(now))
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	shared := func() cachestore.Store { // an instance's cache over the shared Redis
		tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk}), redisstore.New(rdb, redisstore.Options{}), cachestore.TieredOptions{Clock: clk})
		t.Cleanup(func() { tr.Close() })
		return tr
	}
	h, origin := dpopAPI(t, op, clk, shared(), nil)
	h2, _ := dpopAPI(t, op, clk, shared(), nil)
	proof := func(s *dpop.Signer, method, u string, at time.Time, token string) string {
		p, err := s.Proof(method, u, at, "", token)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := func() string { return proof(key, "GET", origin+"/todos", now, bound) }
	if w := dpopCall(h, "DPoP", bound, good()); w.Code != 200 {
		t.Fatalf("a valid proof: %d %s", w.Code, w.Body)
	}
	if w := dpopCall(h2, "DPoP", bound, good()); w.Code != 200 {
		t.Fatalf("a valid proof on the second instance: %d %s", w.Code, w.Body)
	}
	replayed := good()
	dpopCall(h, "DPoP", bound, replayed)
	noneHdr := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"dpop+jwt","alg":"none"}`))
	body := strings.Split(good(), ".")[1]
	hsHdr := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"dpop+jwt","alg":"HS256"}`))
	mac := hmac.New(sha256.New, []byte("secret"))
	mac.Write([]byte(hsHdr + "." + body))
	hsProof := hsHdr + "." + body + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	for _, tc := range []struct {
		name   string
		scheme string
		token  string
		proofs []string
		h      http.Handler
	}{
		{"proof missing", "DPoP", bound, nil, h},
		{"two proofs", "DPoP", bound, []string{good(), good()}, h},
		{"another method", "DPoP", bound, []string{proof(key, "POST", origin+"/todos", now, bound)}, h},
		{"another URL", "DPoP", bound, []string{proof(key, "GET", origin+"/admin", now, bound)}, h},
		{"another host", "DPoP", bound, []string{proof(key, "GET", "https://evil.example/todos", now, bound)}, h},
		{"stale iat", "DPoP", bound, []string{proof(key, "GET", origin+"/todos", now.Add(-10*time.Minute), bound)}, h},
		{"future iat", "DPoP", bound, []string{proof(key, "GET", origin+"/todos", now.Add(5*time.Minute), bound)}, h},
		{"replayed jti", "DPoP", bound, []string{replayed}, h},
		{"replayed jti on a second instance", "DPoP", bound, []string{replayed}, h2},
		{"wrong ath", "DPoP", bound, []string{proof(key, "GET", origin+"/todos", now, plain)}, h},
		{"signed by another key", "DPoP", bound, []string{proof(other, "GET", origin+"/todos", now, bound)}, h},
		{"alg none", "DPoP", bound, []string{noneHdr + "." + body + "."}, h},
		{"HS256", "DPoP", bound, []string{hsProof}, h},
		{"junk", "DPoP", bound, []string{"not.a.proof"}, h},
		{"an unbound token with DPoP", "DPoP", plain, []string{proof(key, "GET", origin+"/todos", now, plain)}, h},
		{"a bound token as bearer", "Bearer", bound, nil, h},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := dpopCall(tc.h, tc.scheme, tc.token, tc.proofs...)
			www := w.Header().Get("WWW-Authenticate")
			if w.Code != http.StatusUnauthorized || (tc.scheme == "DPoP" && !strings.HasPrefix(www, "DPoP algs=")) {
				t.Fatalf("%d %q %s", w.Code, www, w.Body)
			}
			if strings.Contains(w.Body.String(), "identityweb:") {
				t.Fatalf("internals leaked: %s", w.Body)
			}
		})
	}
	redistest.CheckTTLs(t, srv.Addr) // the replay store's keys expire
}

// With a nonce key the API asks for its nonce once; a client that keeps
// being asked gives up after one retry.
func TestDPoPServerNonce(t *testing.T) {
	op := newFakeOP(t)
	clk := newClock()
	now := clk.Now()
	key := newDPoPSigner(t)
	c := op.claims(now)
	c["cnf"] = map[string]string{"jkt": key.JKT()}
	bound := op.sign(t, "k1", c)
	h, origin := dpopAPI(t, op, clk, nil, []byte("shared-nonce-key"))
	p, _ := key.Proof("GET", origin+"/todos", now, "", bound)
	w := dpopCall(h, "DPoP", bound, p)
	nonce := w.Header().Get("DPoP-Nonce")
	if w.Code != 401 || nonce == "" || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="use_dpop_nonce"`) {
		t.Fatalf("no nonce challenge: %d %v", w.Code, w.Header())
	}
	p, _ = key.Proof("GET", origin+"/todos", now, nonce, bound)
	if w := dpopCall(h, "DPoP", bound, p); w.Code != 200 {
		t.Fatalf("with the nonce: %d %s", w.Code, w.Body)
	}
	clk.Advance(3 * time.Minute)
	p, _ = key.Proof("GET", origin+"/todos", clk.Now(), nonce, bound)
	if w := dpopCall(h, "DPoP", bound, p); w.Code != 401 {
		t.Fatalf("an old nonce: %d", w.Code)
	}
}

// A resource server that answers every request with a new nonce gets two
// requests per call, not a loop.
func TestDPoPNonceLoopIsBounded(t *testing.T) {
	op := oidcprovidertest.Start(t, oidcprovidertest.Options{})
	c := op.Clients().SecretBasic
	app, err := identityweb.New(identityweb.Config{Authority: op.Issuer(), ClientID: c.ID, ClientSecret: c.Secret},
		identityweb.AppOptions{Options: identityweb.Options{Logger: quiet(), DPoP: "required"}})
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	rs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("DPoP-Nonce", fmt.Sprint("nonce-", n.Load()))
		w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer rs.Close()
	dc, _ := app.DownstreamClient(identityweb.DownstreamAPI{BaseURL: rs.URL, Scopes: []string{"directory.read"}, As: identityweb.AsApp,
		Resource: oidcprovidertest.ResourceDirectory})
	resp, err := dc.Get(rs.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || n.Load() != 2 {
		t.Fatalf("status %d after %d requests, want 401 after 2", resp.StatusCode, n.Load())
	}
}

// RFC 9207 against mix-up: an authorization response whose iss names
// another provider is refused with a safe page, and so is one without iss
// from a provider that says it always sends it.
func TestMixUpRefused(t *testing.T) {
	ln, appURL := listen(t)
	op := oidcprovidertest.Start(t, oidcprovidertest.Options{RedirectURIs: []string{appURL + "/signin-oidc"}})
	other := oidcprovidertest.Start(t, oidcprovidertest.Options{})
	c := op.Clients().SecretPost
	app, err := identityweb.New(identityweb.Config{Authority: op.Issuer(), ClientID: c.ID, ClientSecret: c.Secret},
		identityweb.AppOptions{Options: identityweb.Options{Logger: quiet()}, InsecureAllowHTTPCookies: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: app.Handler(app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "signed in")
	})))}}
	srv.Start()
	defer srv.Close()
	for _, tc := range []struct {
		name string
		iss  func(q url.Values)
		code int
	}{
		{"another issuer", func(q url.Values) { q.Set("iss", other.Issuer()) }, http.StatusBadRequest},
		{"no iss", func(q url.Values) { q.Del("iss") }, http.StatusBadRequest},
		{"the right issuer", func(q url.Values) {}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newAppBrowser()
			resp, err := b.Get(appURL + "/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, _ := resp.Location()
			back, err := op.NewBrowser().SignIn(loc.String(), oidcprovidertest.Alice, true)
			if err != nil {
				t.Fatal(err)
			}
			q := back.Query()
			tc.iss(q)
			back.RawQuery = q.Encode()
			resp, err = b.Get(back.String())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tc.code == http.StatusOK {
				if resp.StatusCode != http.StatusFound {
					t.Fatalf("the right issuer: %d %s", resp.StatusCode, body)
				}
				return
			}
			if resp.StatusCode != tc.code || !strings.Contains(string(body), "Sign in again") || strings.Contains(string(body), "identityweb:") {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			// Not signed in.
			resp, _ = b.Get(appURL + "/")
			resp.Body.Close()
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("signed in after a refused response: %d", resp.StatusCode)
			}
		})
	}
}
