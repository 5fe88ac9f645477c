package identityweb_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/internal/jws"
)

// fakeOP is a bare OpenID Provider (discovery and JWKS) whose keys the test
// holds, so it can sign tokens with any claims: the standards path of the
// library (Config.Authority), and the way to craft bad tokens.
type fakeOP struct {
	srv       *httptest.Server
	mu        sync.Mutex
	keys      map[string]*rsa.PrivateKey
	jwksCalls atomic.Int32
	keysDown  atomic.Bool                   // the key set answers 500
	keysHang  atomic.Pointer[chan struct{}] // when set, the key set answers once it is closed
	hanging   chan struct{}                 // a key set request is held by keysHang
	// tokenEndpoint is advertised as the token endpoint when set.
	tokenEndpoint string
}

var (
	opKeyOnce sync.Once
	opKeys    [2]*rsa.PrivateKey
)

func newFakeOP(t testing.TB) *fakeOP {
	opKeyOnce.Do(func() {
		for i := range opKeys {
			opKeys[i], _ = rsa.GenerateKey(rand.Reader, 2048)
		}
	})
	op := &fakeOP{keys: map[string]*rsa.PrivateKey{"k1": opKeys[0]}, hanging: make(chan struct{}, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		tokenEndpoint := op.srv.URL + "/token"
		if op.tokenEndpoint != "" {
			tokenEndpoint = op.tokenEndpoint
		}
		json.NewEncoder(w).Encode(map[string]string{"issuer": op.srv.URL, "jwks_uri": op.srv.URL + "/keys",
			"authorization_endpoint": op.srv.URL + "/authorize", "token_endpoint": tokenEndpoint})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		op.jwksCalls.Add(1)
		if hang := op.keysHang.Load(); hang != nil {
			op.hanging <- struct{}{}
			<-*hang
		}
		if op.keysDown.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		op.mu.Lock()
		defer op.mu.Unlock()
		var keys []map[string]string
		for kid, k := range op.keys {
			keys = append(keys, map[string]string{"kty": "RSA", "use": "sig", "kid": kid,
				"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
				"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())})
		}
		json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	})
	op.srv = httptest.NewServer(mux)
	t.Cleanup(op.srv.Close)
	return op
}

func (op *fakeOP) sign(t testing.TB, kid string, claims map[string]any) string {
	t.Helper()
	key := opKeys[0]
	if kid == "k2" {
		key = opKeys[1]
	}
	tok, err := jws.Sign(key, jws.Header{Alg: jws.RS256, Typ: "JWT", Kid: kid}, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// claims returns valid access token claims for the API "api-client".
func (op *fakeOP) claims(now time.Time) map[string]any {
	return map[string]any{"iss": op.srv.URL, "aud": "api-client", "sub": "user-1", "oid": "oid-1",
		"scp": "read", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "name": "User One"}
}

func apiOn(t testing.TB, op *fakeOP, clk identityweb.Clock, policies ...identityweb.Policy) (*identityweb.App, http.Handler) {
	app, err := identityweb.New(identityweb.Config{Authority: op.srv.URL, ClientID: "api-client", ClientSecret: "unused"},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: op.srv.Client(), Clock: clk, Logger: quiet()}})
	if err != nil {
		t.Fatal(err)
	}
	h := app.RequireBearer(policies...)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := identityweb.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "ok %s", c.Name)
	}))
	return app, h
}

func call(h http.Handler, authz string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/api", nil)
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func hs256WithPublicKey(t *testing.T, op *fakeOP, claims map[string]any) string {
	hdr, _ := json.Marshal(map[string]string{"alg": "HS256", "kid": "k1", "typ": "JWT"})
	body, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(body)
	pub, _ := x509.MarshalPKIXPublicKey(&opKeys[0].PublicKey)
	m := hmac.New(sha256.New, pub)
	m.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

type bearerCase struct {
	name  string
	authz string
	code  int
}

// bearerCases is the table RequireBearer and ValidateToken are both held to.
func bearerCases(t *testing.T, op *fakeOP, now time.Time) (good string, cases []bearerCase) {
	with := func(mut func(map[string]any)) map[string]any {
		c := op.claims(now)
		mut(c)
		return c
	}
	good = op.sign(t, "k1", op.claims(now))
	parts := strings.Split(good, ".")
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+op.srv.URL+`","aud":"api-client","sub":"admin","scp":"read","exp":9999999999}`)) + "." + parts[2]
	return good, []bearerCase{
		{"missing", "", 401},
		{"basic scheme", "Basic dXNlcjpwYXNz", 401},
		{"garbage", "Bearer not-a-jwt", 401},
		{"alg none", "Bearer " + base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".", 401},
		{"HS256 with the RSA public key", "Bearer " + hs256WithPublicKey(t, op, op.claims(now)), 401},
		{"tampered payload", "Bearer " + forged, 401},
		{"wrong issuer", "Bearer " + op.sign(t, "k1", with(func(c map[string]any) { c["iss"] = "https://evil.example" })), 401},
		{"wrong audience", "Bearer " + op.sign(t, "k1", with(func(c map[string]any) { c["aud"] = "another-api" })), 401},
		{"expired", "Bearer " + op.sign(t, "k1", with(func(c map[string]any) { c["exp"] = now.Add(-10 * time.Minute).Unix() })), 401},
		{"not yet valid", "Bearer " + op.sign(t, "k1", with(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() })), 401},
		{"missing sub", "Bearer " + op.sign(t, "k1", with(func(c map[string]any) { delete(c, "sub") })), 401},
		{"unknown key", "Bearer " + op.sign(t, "k9", op.claims(now)), 401},
		{"missing scope", "Bearer " + op.sign(t, "k1", with(func(c map[string]any) { c["scp"] = "other" })), 403},
	}
}

func TestRequireBearer(t *testing.T) {
	op := newFakeOP(t)
	clk := newClock()
	_, h := apiOn(t, op, clk, identityweb.RequireScopes("read", "write"))
	good, cases := bearerCases(t, op, clk.Now())
	if w := call(h, "Bearer "+good); w.Code != 200 || w.Body.String() != "ok User One" {
		t.Fatalf("valid token: %d %s", w.Code, w.Body)
	}
	if w := call(h, "bearer "+good); w.Code != 200 {
		t.Fatal("the scheme is case-insensitive")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := call(h, tc.authz)
			if w.Code != tc.code {
				t.Fatalf("status = %d, want %d: %s", w.Code, tc.code, w.Body)
			}
			www := w.Header().Get("WWW-Authenticate")
			if !strings.HasPrefix(www, "Bearer") {
				t.Fatalf("WWW-Authenticate = %q", www)
			}
			if tc.code == 401 && tc.authz != "" && !strings.Contains(www, `error="invalid_token"`) && tc.name != "basic scheme" {
				t.Fatalf("WWW-Authenticate = %q", www)
			}
			if tc.code == 403 && (!strings.Contains(www, `error="insufficient_scope"`) || !strings.Contains(www, `scope="read write"`)) {
				t.Fatalf("WWW-Authenticate = %q", www)
			}
			body := w.Body.String()
			if strings.Contains(body, "identityweb:") || (tc.authz != "" && len(tc.authz) > 20 && strings.Contains(body, tc.authz[7:30])) {
				t.Fatalf("the answer leaks internals or the token: %s", body)
			}
		})
	}
}

// ValidateToken refuses what RequireBearer refuses, with errors that say
// which answer to give.
func TestValidateTokenSameTable(t *testing.T) {
	op := newFakeOP(t)
	clk := newClock()
	app, _ := apiOn(t, op, clk)
	good, cases := bearerCases(t, op, clk.Now())
	policy := identityweb.RequireScopes("read", "write")
	ctx, err := app.ValidateToken(t.Context(), good, policy)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := identityweb.ClaimsFromContext(ctx); !ok || c.Name != "User One" {
		t.Fatalf("claims: %+v", c)
	}
	for _, tc := range cases {
		raw, _ := strings.CutPrefix(tc.authz, "Bearer ")
		_, err := app.ValidateToken(t.Context(), raw, policy)
		want := identityweb.ErrInvalidToken
		if tc.code == 403 {
			want = identityweb.ErrForbidden
		}
		if !errors.Is(err, want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, want)
		}
	}
}

// During a key rotation with the key set endpoint down, a token signed by
// the new key may be fine: the answer is 503 (retry), never 401 (which makes
// clients drop their token and loop re-acquiring).
func TestKeySetDownDuringRotationIs503(t *testing.T) {
	op, clk, h := apiDuringRotationWithKeySetDown(t)
	w := call(h, "Bearer "+op.sign(t, "k2", op.claims(clk.Now())))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("status = %d (Retry-After %q), want 503 while the keys cannot be fetched", w.Code, w.Header().Get("Retry-After"))
	}
	if strings.Contains(w.Body.String(), "identityweb:") {
		t.Fatalf("internals leaked: %s", w.Body)
	}
}

func TestUnknownKidRefetchesOnce(t *testing.T) {
	op := newFakeOP(t)
	clk := newClock()
	_, h := apiOn(t, op, clk)
	now := clk.Now()
	if w := call(h, "Bearer "+op.sign(t, "k1", op.claims(now))); w.Code != 200 {
		t.Fatal(w.Body)
	}
	base := op.jwksCalls.Load()
	for i := 0; i < 20; i++ { // a flood of tokens with unknown kids
		c := op.claims(now)
		c["jti"] = i
		if w := call(h, "Bearer "+op.sign(t, fmt.Sprint("unknown-", i), c)); w.Code != 401 {
			t.Fatalf("unknown kid accepted: %d", w.Code)
		}
	}
	if n := op.jwksCalls.Load() - base; n != 1 {
		t.Fatalf("JWKS fetched %d times for 20 unknown kids, want 1", n)
	}
	// Key rotation: a new key appears; once the interval has passed the
	// unknown kid is fetched and accepted.
	op.mu.Lock()
	op.keys["k2"] = opKeys[1]
	op.mu.Unlock()
	clk.Advance(6 * time.Minute)
	now = clk.Now()
	if w := call(h, "Bearer "+op.sign(t, "k2", op.claims(now))); w.Code != 200 {
		t.Fatalf("rotated key: %d %s", w.Code, w.Body)
	}
}

func TestPolicies(t *testing.T) {
	op := newFakeOP(t)
	clk := newClock()
	now := clk.Now()
	app := op.claims(now)
	delete(app, "scp")
	app["roles"] = []string{"Todo.Read.All"}
	app["idtyp"] = "app"
	appTok := op.sign(t, "k1", app)
	userTok := op.sign(t, "k1", op.claims(now))
	for _, tc := range []struct {
		name       string
		policy     identityweb.Policy
		user, appl int
	}{
		{"scopes", identityweb.RequireScopes("read"), 200, 403},
		{"roles", identityweb.RequireRoles("Todo.Read.All"), 403, 200},
		{"scopes or roles", identityweb.RequireScopesOrRoles([]string{"read"}, []string{"Todo.Read.All"}), 200, 200},
	} {
		_, h := apiOn(t, op, clk, tc.policy)
		if w := call(h, "Bearer "+userTok); w.Code != tc.user {
			t.Fatalf("%s, user token: %d", tc.name, w.Code)
		}
		if w := call(h, "Bearer "+appTok); w.Code != tc.appl {
			t.Fatalf("%s, app token: %d", tc.name, w.Code)
		}
	}
}

func TestProviderDownIsNot401(t *testing.T) {
	op := newFakeOP(t)
	clk := newClock()
	_, h := apiOn(t, op, clk)
	tok := op.sign(t, "k1", op.claims(clk.Now()))
	op.srv.Close() // discovery and keys unreachable before the first validation
	w := call(h, "Bearer "+tok)
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503 when keys cannot be fetched", w.Code)
	}
	b, _ := io.ReadAll(w.Body)
	if strings.Contains(string(b), "connection") {
		t.Fatalf("internals leaked: %s", b)
	}
}

// A multi-tenant API ("organizations") accepts tokens of any tenant whose
// issuer matches the template with the token's own tid.
func TestMultiTenantIssuer(t *testing.T) {
	idp := iwt.NewServer(t, iwt.Options{})
	app, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: "organizations",
		ClientID: iwt.WebAPIClientID, ClientSecret: iwt.WebAPISecret}, identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Logger: quiet()}})
	if err != nil {
		t.Fatal(err)
	}
	h := app.RequireBearer()(okHandler)
	tok, _ := idp.UserToken(iwt.AliceUsername, iwt.WebAppClientID, iwt.WebAPIIdentifierURI, "access_as_user")
	if w := call(h, "Bearer "+tok); w.Code != 204 {
		t.Fatalf("tenant token on a multi-tenant API: %d %s", w.Code, w.Body)
	}
	// A token of another provider (other issuer host) is refused.
	other := iwt.NewServer(t, iwt.Options{})
	foreign, _ := other.UserToken(iwt.AliceUsername, iwt.WebAppClientID, iwt.WebAPIIdentifierURI, "access_as_user")
	if w := call(h, "Bearer "+foreign); w.Code != 401 {
		t.Fatalf("foreign issuer: %d", w.Code)
	}
}

// Providers send scopes and roles in different shapes: scp as a string or
// an array, RFC 9068's scope, roles nested (Keycloak), client_id for app
// tokens; typ at+jwt. Scope and role policies see them all.
func TestClaimShapesOfStandardsProviders(t *testing.T) {
	op := newFakeOP(t)
	clk := newClock()
	now := clk.Now()
	sign := func(mut func(map[string]any)) string {
		c := op.claims(now)
		delete(c, "scp")
		mut(c)
		tok, err := jws.Sign(opKeys[0], jws.Header{Alg: jws.RS256, Typ: "at+jwt", Kid: "k1"}, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	type seen struct {
		scopes, roles []string
		app           bool
	}
	for _, tc := range []struct {
		name      string
		roleClaim string
		token     string
		want      seen
	}{
		{"scp string", "", sign(func(c map[string]any) { c["scp"] = "read write" }), seen{scopes: []string{"read", "write"}}},
		{"scp array", "", sign(func(c map[string]any) { c["scp"] = []string{"read", "write"} }), seen{scopes: []string{"read", "write"}}},
		{"RFC 9068 scope", "", sign(func(c map[string]any) { c["scope"] = "read" }), seen{scopes: []string{"read"}}},
		{"nested roles", "realm_access.roles", sign(func(c map[string]any) {
			c["scope"] = "read"
			c["realm_access"] = map[string]any{"roles": []string{"admin"}}
		}), seen{scopes: []string{"read"}, roles: []string{"admin"}}},
		{"URL-named roles (Auth0)", "https://example.com/roles", sign(func(c map[string]any) {
			c["scope"] = "read"
			c["https://example.com/roles"] = []string{"admin"}
		}), seen{scopes: []string{"read"}, roles: []string{"admin"}}},
		{"roles as an object (Zitadel)", "urn:zitadel:iam:org:project:roles", sign(func(c map[string]any) {
			c["scope"] = "read"
			c["urn:zitadel:iam:org:project:roles"] = map[string]any{"admin": map[string]string{"org1": "example.com"}}
		}), seen{scopes: []string{"read"}, roles: []string{"admin"}}},
		{"RFC 9068 client credentials", "", sign(func(c map[string]any) {
			delete(c, "oid")
			c["sub"], c["client_id"], c["scope"] = "daemon-1", "daemon-1", "read"
		}), seen{scopes: []string{"read"}, app: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app, err := identityweb.New(identityweb.Config{Authority: op.srv.URL, ClientID: "api-client", RoleClaim: tc.roleClaim},
				identityweb.AppOptions{Options: identityweb.Options{HTTPClient: op.srv.Client(), Clock: clk, Logger: quiet()}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, err := app.ValidateToken(t.Context(), tc.token, identityweb.RequireScopes("read"))
			if err != nil {
				t.Fatal(err)
			}
			c, _ := identityweb.ClaimsFromContext(ctx)
			if got := (seen{c.Scopes, c.Roles, c.IsApp()}); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("claims = %+v, want %+v", got, tc.want)
			}
			if len(tc.want.roles) > 0 {
				if _, err := app.ValidateToken(t.Context(), tc.token, identityweb.RequireRoles("admin")); err != nil {
					t.Fatalf("role policy over the nested claim: %v", err)
				}
			}
		})
	}
}

// The validated-token cache finds a token by a hash of its signature and
// then compares the whole token: a token forged with a cached token's
// signature over other claims is validated (and refused), never served the
// cached token's claims.
func TestVerifiedCacheComparesTheWholeToken(t *testing.T) {
	op := newFakeOP(t)
	clk := newClock()
	_, h := apiOn(t, op, clk)
	good := op.sign(t, "k1", op.claims(clk.Now()))
	for range 2 { // validated, then from the cache
		if w := call(h, "Bearer "+good); w.Code != 200 {
			t.Fatalf("valid token: %d %s", w.Code, w.Body)
		}
	}
	other := op.claims(clk.Now())
	other["sub"], other["name"] = "attacker", "Mallory"
	body, _ := json.Marshal(other)
	parts := strings.Split(good, ".")
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString(body) + "." + parts[2]
	if w := call(h, "Bearer "+forged); w.Code != 401 {
		t.Fatalf("a token carrying a cached token's signature: %d %s", w.Code, w.Body)
	}
}

// A request with a token already validated costs one allocation: the
// request RequireBearer passes on and the context carrying the token are
// one value.
func TestRequireBearerAllocations(t *testing.T) {
	op := newFakeOP(t)
	clk := newClock()
	app, _ := apiOn(t, op, clk)
	var claims *identityweb.Claims
	h := app.RequireBearer(identityweb.RequireScopes("read"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := identityweb.ClaimsFromContext(r.Context()); ok {
			claims = c
		}
		w.WriteHeader(204)
	}))
	r := httptest.NewRequest(http.MethodGet, "/api", nil)
	r.Header.Set("Authorization", "Bearer "+op.sign(t, "k1", op.claims(clk.Now())))
	original := r.Context()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 204 || claims == nil || claims.Subject != "user-1" {
		t.Fatalf("valid token: %d %+v", w.Code, claims)
	}
	bare := app.RequireBearer(identityweb.RequireScopes("read"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	if n := testing.AllocsPerRun(100, func() { bare.ServeHTTP(w, r) }); n > 1 {
		t.Fatalf("%.0f allocations per validated request, want 1", n)
	}
	if r.Context() != original {
		t.Fatal("the caller's request was modified")
	}
}
