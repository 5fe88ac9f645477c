package identityweb_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// authRecorder is an HTTP server that records the Authorization header of every
// request it gets.
type authRecorder struct {
	srv   *httptest.Server
	mu    sync.Mutex
	auths []string // "" for a request without one
}

func newAuthRecorder(t *testing.T, h http.HandlerFunc) *authRecorder {
	rec := &authRecorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.auths = append(rec.auths, r.Header.Get("Authorization"))
		rec.mu.Unlock()
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

// tokens returns and forgets the Authorization headers received so far
// that carried a token, and how many requests came.
func (r *authRecorder) tokens() (tokens []string, requests int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.auths {
		if a != "" {
			tokens = append(tokens, a)
		}
	}
	requests = len(r.auths)
	r.auths = nil
	return tokens, requests
}

// nameTransport resolves every host name to a test server: the API's names
// (any port, as the API listens on both 443 and 80 here) to the API, every
// other name to the attacker's server, as DNS controlled by the attacker
// would. Both are plain HTTP on loopback whatever the scheme says.
func nameTransport(api, evil *authRecorder, apiHosts ...string) http.RoundTripper {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(addr)
		target := evil.srv.Listener.Addr().String()
		for _, h := range apiHosts {
			if strings.EqualFold(strings.TrimSuffix(host, "."), h) {
				target = api.srv.Listener.Addr().String()
			}
		}
		return (&net.Dialer{}).DialContext(ctx, network, target)
	}
	return &http.Transport{DialContext: dial, DialTLSContext: dial, DisableKeepAlives: true}
}

// daemonApp is an App of the development daemon registration, which gets
// app tokens (AsApp) from a provider of its own.
func daemonApp(t *testing.T) *identityweb.App {
	e := newEnv(t, iwt.Options{})
	app, err := identityweb.New(identityweb.Config{Instance: e.idp.URL + "/", TenantID: tenant,
		ClientID: iwt.DaemonClientID, ClientSecret: iwt.DaemonSecret},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: e.idp.Client(), Clock: e.clk, Logger: quiet()}})
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// A downstream API's token goes only to its BaseURL's exact origin (scheme,
// host, port) and to paths under its path; never to a look-alike host, a
// URL with user info, another port or scheme, a sibling path, and never
// across a redirect to another origin.
func TestDownstreamTokenStaysOnItsOrigin(t *testing.T) {
	app := daemonApp(t)
	evil := newAuthRecorder(t, nil)
	var api *authRecorder
	api = newAuthRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if to := r.URL.Query().Get("to"); strings.HasSuffix(r.URL.Path, "/redirect") {
			http.Redirect(w, r, to, http.StatusFound)
			return
		}
		fmt.Fprint(w, "ok")
	})
	client := func(base string, hosts ...string) *http.Client {
		c, err := app.DownstreamClient(identityweb.DownstreamAPI{BaseURL: base, Scopes: []string{apiDefault}, As: identityweb.AsApp,
			Transport: nameTransport(api, evil, hosts...)})
		if err != nil {
			t.Fatalf("DownstreamClient(%q): %v", base, err)
		}
		return c
	}
	root := client("https://api.contoso.test/", "api.contoso.test") // the whole origin
	contoso := client("https://api.contoso.test/v1", "api.contoso.test")
	idn := client("https://bücher.example/", "xn--bcher-kva.example")
	do := func(c *http.Client, u string, host string) error {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		req.Host = host
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}

	// Where the token goes.
	if err := do(root, "https://api.contoso.test/anything", ""); err != nil || got(api) == 0 {
		t.Errorf("a BaseURL without a path covers the whole origin: %v", err)
	}
	for _, u := range []string{
		"https://api.contoso.test/v1",
		"https://api.contoso.test/v1/",
		"https://api.contoso.test/v1/items?x=1",
		"https://API.Contoso.TEST/v1/items",                 // host case
		"https://api.contoso.test./v1/items",                // trailing dot
		"https://api.contoso.test:443/v1/items",             // explicit default port
		"https://api.contoso.test/v1/redirect?to=/v1/items", // same-origin redirect
	} {
		if err := do(contoso, u, ""); err != nil {
			t.Errorf("%s: %v", u, err)
		}
		if got(api) == 0 {
			t.Errorf("%s: the API got no token", u)
		}
	}
	for _, u := range []string{"https://xn--bcher-kva.example/x", "https://BÜCHER.example/x"} {
		if err := do(idn, u, ""); err != nil {
			t.Errorf("%s: %v", u, err)
		}
		if got(api) == 0 {
			t.Errorf("%s: the API got no token", u)
		}
	}

	// Where it never goes.
	for _, tc := range []struct {
		c    *http.Client
		url  string
		host string // the Host header, when set
	}{
		{root, "https://api.contoso.test.evil.test/steal", ""},
		{root, "https://api.contoso.test@evil.test/x", ""},
		{root, "https://api.contoso.test:1@evil.test/x", ""},
		{root, "https://api.contoso.test/redirect?to=https://evil.test/x", ""},
		{root, "http://api.contoso.test/x", ""},
		{root, "https://api.contoso.test/x", "api.contoso.test.evil.test"},
		{contoso, "https://api.contoso.test.evil.test/v1/steal", ""},
		{contoso, "https://user:pass@api.contoso.test/v1/x", ""}, // user info, even on the right host
		{contoso, "https://evil.test/v1/x", ""},
		{contoso, "https://api.contoso.test/v10", ""},
		{contoso, "https://api.contoso.test/v1evil", ""},
		{contoso, "https://api.contoso.test/", ""},
		{contoso, "https://api.contoso.test/v1/../admin", ""},
		{contoso, "https://api.contoso.test/v1/%2e%2e/admin", ""},
		{contoso, "http://api.contoso.test/v1/x", ""},       // scheme
		{contoso, "https://api.contoso.test:8443/v1/x", ""}, // port
		{contoso, "https://api.contoso.test/v1/x", "evil.test"},
		{contoso, "https://api.contoso.test/v1/redirect?to=https://evil.test/x", ""},
		{contoso, "https://api.contoso.test/v1/redirect?to=https://api.contoso.test.evil.test/v1/x", ""},
		{contoso, "https://api.contoso.test/v1/redirect?to=https://sub.api.contoso.test/v1/x", ""},
		{contoso, "https://api.contoso.test/v1/redirect?to=https://api.contoso.test:8443/v1/x", ""},
		{contoso, "https://api.contoso.test/v1/redirect?to=http://api.contoso.test/v1/x", ""},
		{contoso, "https://api.contoso.test/v1/redirect?to=https://api.contoso.test@evil.test/v1/x", ""},
		{idn, "https://bucher.example/x", ""},
		{idn, "https://xn--bcher-kva.example.evil.test/x", ""},
	} {
		err := do(tc.c, tc.url, tc.host)
		if got(evil) > 0 {
			t.Errorf("%s (Host %q): the token went to another host", tc.url, tc.host)
		}
		if got(api) > 0 && !strings.Contains(tc.url, "/redirect") {
			t.Errorf("%s (Host %q): a token was sent outside the BaseURL", tc.url, tc.host)
		}
		if err != nil && !errors.Is(err, identityweb.ErrConfig) {
			t.Errorf("%s: err = %v, want one matching ErrConfig", tc.url, err)
		}
	}
	// A redirect to another origin is followed, without the token.
	if err := do(contoso, "https://api.contoso.test/v1/redirect?to=https://evil.test/x", ""); err != nil {
		t.Fatal(err)
	}
	if tokens, requests := evil.tokens(); len(tokens) > 0 || requests != 1 {
		t.Errorf("redirect to another origin: %d requests, %d with a token; want 1 without", requests, len(tokens))
	}
}

// got returns how many requests r received with a token since the last call.
func got(r *authRecorder) int {
	tokens, _ := r.tokens()
	return len(tokens)
}

// Requests that carry the app's credential or a token — token requests,
// introspection (RFC 7662), revocation at sign-out (RFC 7009) — never
// follow a redirect: a 307 would re-send the form (client secret or
// assertion, refresh token, code, the caller's access token) to wherever it
// points.
func TestTokenRequestIsNeverRedirected(t *testing.T) {
	evil := newAuthRecorder(t, nil)
	mux := http.NewServeMux()
	var op *httptest.Server
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q,"authorization_endpoint":%q,"token_endpoint":%q,"introspection_endpoint":%q,"revocation_endpoint":%q}`,
			op.URL, op.URL+"/keys", op.URL+"/authorize", op.URL+"/token", op.URL+"/introspect", op.URL+"/revoke")
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"keys":[]}`) })
	for _, p := range []string{"/token", "/introspect", "/revoke"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, evil.srv.URL+p, http.StatusTemporaryRedirect)
		})
	}
	op = httptest.NewServer(mux)
	t.Cleanup(op.Close)
	app, err := identityweb.New(identityweb.Config{Authority: op.URL, ClientID: "app", ClientSecret: "s3cret"},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: op.Client(), Logger: quiet(), RetryDelay: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Tokens().ForApp(t.Context(), "api://x/.default"); err == nil {
		t.Error("a redirected token request succeeded")
	}
	if _, err := app.ValidateToken(t.Context(), "an-opaque-access-token"); err == nil {
		t.Error("a redirected introspection succeeded")
	}
	identityweb.RevokeForTest(app, op.URL+"/revoke", "a-refresh-token")
	if _, requests := evil.tokens(); requests != 0 {
		t.Fatalf("a request with the client secret was re-sent %d times to where a redirect pointed", requests)
	}
}

// A *ChallengeError handed out the downstream client's own Scopes slice: a
// handler that changed the error's scopes changed what every later request
// of the client asked for.
func TestChallengeErrorDoesNotShareTheClientsScopes(t *testing.T) {
	app := daemonApp(t)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost { // always a claims challenge
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnt9fQ=="`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(api.Close)
	c, err := app.DownstreamClient(identityweb.DownstreamAPI{BaseURL: api.URL, Scopes: []string{apiDefault}, As: identityweb.AsApp})
	if err != nil {
		t.Fatal(err)
	}
	// A body that cannot be sent twice: the challenge comes back as an error.
	req, _ := http.NewRequest(http.MethodPost, api.URL+"/x", io.NopCloser(strings.NewReader("{}")))
	_, err = c.Do(req)
	var ce *identityweb.ChallengeError
	if !errors.As(err, &ce) || len(ce.Scopes) != 1 {
		t.Fatalf("err = %v, want a *ChallengeError", err)
	}
	ce.Scopes[0] = "api://someone-else/.default"
	resp, err := c.Get(api.URL + "/x")
	if err != nil {
		t.Fatalf("the client's next request, after a handler changed a ChallengeError's scopes: %v", err)
	}
	resp.Body.Close()
}
