package oidcprovidertest_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/identityweb/go-identityweb/internal/oidcprovidertest"
)

func TestDiscoveryAdvertisesConfiguration(t *testing.T) {
	p := oidcprovidertest.Start(t, oidcprovidertest.Options{})
	m := p.Metadata()
	if m.Issuer != p.Issuer() || !strings.HasPrefix(p.Issuer(), "http://127.0.0.1:") {
		t.Fatalf("issuer %q, Issuer() %q", m.Issuer, p.Issuer())
	}
	for name, v := range map[string]string{
		"authorization_endpoint": m.AuthorizationEndpoint, "token_endpoint": m.TokenEndpoint,
		"jwks_uri": m.JWKSURI, "end_session_endpoint": m.EndSessionEndpoint,
		"introspection_endpoint": m.IntrospectionEndpoint, "revocation_endpoint": m.RevocationEndpoint,
		"pushed_authorization_request_endpoint": m.PushedAuthorizationRequestEndpoint,
	} {
		if !strings.HasPrefix(v, p.Issuer()+"/") {
			t.Errorf("%s = %q", name, v)
		}
	}
	contains := func(name string, list []string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !slices.Contains(list, w) {
				t.Errorf("%s = %v, missing %s", name, list, w)
			}
		}
	}
	contains("grant_types_supported", m.GrantTypesSupported, "authorization_code", "refresh_token", "client_credentials")
	if slices.Contains(m.GrantTypesSupported, "implicit") {
		t.Error("implicit advertised: the provider is configured for the code flow only")
	}
	if slices.Contains(m.GrantTypesSupported, "urn:ietf:params:oauth:grant-type:token-exchange") {
		t.Error("token exchange advertised, but oidc-provider 9 does not implement it")
	}
	contains("token_endpoint_auth_methods_supported", m.TokenEndpointAuthMethodsSupported, "client_secret_basic", "client_secret_post", "private_key_jwt")
	contains("token_endpoint_auth_signing_alg_values_supported", m.TokenEndpointAuthSigningAlgValuesSupported, "RS256", "PS256", "ES256")
	contains("code_challenge_methods_supported", m.CodeChallengeMethodsSupported, "S256")
	contains("scopes_supported", m.ScopesSupported, "openid", "offline_access", "profile", "email", "roles")
	if len(m.DPoPSigningAlgValuesSupported) == 0 {
		t.Error("DPoP not advertised")
	}
	if !m.AuthorizationResponseIssParameterSupported || !m.BackchannelLogoutSupported || !m.BackchannelLogoutSessionSupported {
		t.Errorf("iss parameter %v, back-channel logout %v (session %v)", m.AuthorizationResponseIssParameterSupported,
			m.BackchannelLogoutSupported, m.BackchannelLogoutSessionSupported)
	}
	if _, ok := m.Raw["userinfo_endpoint"]; !ok || len(m.Raw) < 20 {
		t.Errorf("Raw holds %d members", len(m.Raw))
	}
}

// verifyJWT checks an access or ID token's signature against the provider's
// published keys and returns its claims and typ header.
func verifyJWT(t *testing.T, p *oidcprovidertest.Provider, tok string) (map[string]any, string) {
	t.Helper()
	resp, err := httpClient.Get(p.Metadata().JWKSURI)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := parsed.Claims(set, &claims); err != nil {
		t.Fatalf("signature: %v", err)
	}
	typ, _ := parsed.Headers[0].ExtraHeaders["typ"].(string)
	return claims, typ
}

func TestClientCredentialsWithEachAuthMethod(t *testing.T) {
	p := oidcprovidertest.Start(t, oidcprovidertest.Options{})
	for _, c := range p.Clients().All() {
		t.Run(c.AuthMethod+"/"+c.ID, func(t *testing.T) {
			// A JWT access token (RFC 9068) for the todo API.
			tr := token(t, p, c, url.Values{"grant_type": {"client_credentials"},
				"resource": {oidcprovidertest.ResourceTodo}, "scope": {"todo.read"}})
			if tr.Status != http.StatusOK || tr.TokenType != "Bearer" || tr.Scope != "todo.read" {
				t.Fatalf("%+v", tr)
			}
			claims, typ := verifyJWT(t, p, tr.AccessToken)
			if typ != "at+jwt" || claims["aud"] != oidcprovidertest.ResourceTodo || claims["client_id"] != c.ID ||
				claims["scope"] != "todo.read" || claims["iss"] != p.Issuer() {
				t.Fatalf("typ %q claims %v", typ, claims)
			}
			// An opaque token for the ledger, read through introspection.
			tr = token(t, p, c, url.Values{"grant_type": {"client_credentials"},
				"resource": {oidcprovidertest.ResourceLedger}, "scope": {"ledger.read"}})
			if tr.Status != http.StatusOK || strings.Count(tr.AccessToken, ".") == 2 {
				t.Fatalf("%+v", tr)
			}
			status, body := postForm(t, p.Metadata().IntrospectionEndpoint, url.Values{"token": {tr.AccessToken}},
				func(r *http.Request, f url.Values) { authenticate(t, p, c, r, f) })
			var intro struct {
				Active   bool
				Aud      string
				Scope    string
				ClientID string `json:"client_id"`
			}
			if json.Unmarshal(body, &intro); status != http.StatusOK || !intro.Active ||
				intro.Aud != oidcprovidertest.ResourceLedger || intro.Scope != "ledger.read" || intro.ClientID != c.ID {
				t.Fatalf("introspection %d: %s", status, body)
			}
		})
	}
	t.Run("wrong secret", func(t *testing.T) {
		c := p.Clients().SecretBasic
		c.Secret += "x"
		tr := token(t, p, c, url.Values{"grant_type": {"client_credentials"}})
		if tr.Status != http.StatusUnauthorized || tr.Error != "invalid_client" {
			t.Fatalf("%+v", tr)
		}
	})
	t.Run("unknown resource", func(t *testing.T) {
		tr := token(t, p, p.Clients().SecretPost, url.Values{"grant_type": {"client_credentials"}, "resource": {"urn:nowhere"}})
		if tr.Status != http.StatusBadRequest || tr.Error != "invalid_target" {
			t.Fatalf("%+v", tr)
		}
	})
}

// signIn runs an authorization code + PKCE sign-in for user with client c
// and redeems the code for the todo API.
func signIn(t *testing.T, p *oidcprovidertest.Provider, b *oidcprovidertest.Browser, c oidcprovidertest.Client, user string) tokenResponse {
	t.Helper()
	u, verifier, state := authURL(p, c, "openid offline_access profile email roles todo.read",
		url.Values{"resource": {oidcprovidertest.ResourceTodo}, "prompt": {"consent"}})
	back, err := b.SignIn(u, user, true)
	if err != nil {
		t.Fatal(err)
	}
	q := back.Query()
	if back.Scheme+"://"+back.Host+back.Path != c.RedirectURIs[0] || q.Get("state") != state || q.Get("code") == "" {
		t.Fatalf("redirected to %s", back)
	}
	if q.Get("iss") != p.Issuer() { // RFC 9207
		t.Fatalf("iss = %q", q.Get("iss"))
	}
	tr := token(t, p, c, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {verifier}, "resource": {oidcprovidertest.ResourceTodo}})
	if tr.Status != http.StatusOK {
		t.Fatalf("%+v", tr)
	}
	return tr
}

func TestAuthCodeWithPKCE(t *testing.T) {
	p := oidcprovidertest.Start(t, oidcprovidertest.Options{})
	for _, c := range p.Clients().All() {
		t.Run(c.ID, func(t *testing.T) {
			tr := signIn(t, p, p.NewBrowser(), c, oidcprovidertest.Alice)
			// RFC 8707: the token is for the todo API, so its scope lists only that API's scopes.
			if tr.RefreshToken == "" || tr.IDToken == "" || tr.Scope != "todo.read" {
				t.Fatalf("%+v", tr)
			}
			id, _ := verifyJWT(t, p, tr.IDToken)
			if id["sub"] != "alice" || id["aud"] != c.ID || id["email"] != "alice@example.test" || id["name"] != "Alice Example" {
				t.Fatalf("ID token %v", id)
			}
			at, typ := verifyJWT(t, p, tr.AccessToken)
			roles, _ := at["roles"].([]any)
			if typ != "at+jwt" || at["sub"] != "alice" || at["aud"] != oidcprovidertest.ResourceTodo || at["scope"] != "todo.read" || len(roles) != 2 {
				t.Fatalf("access token typ %q %v", typ, at)
			}
		})
	}
	t.Run("silent second sign-in as bob", func(t *testing.T) {
		b := p.NewBrowser()
		c := p.Clients().SecretPost
		signIn(t, p, b, c, oidcprovidertest.Bob)
		u, _, _ := authURL(p, c, "openid todo.read", url.Values{"resource": {oidcprovidertest.ResourceTodo}, "prompt": {"none"}})
		back, err := b.SignIn(u, "", false)
		if err != nil || back.Query().Get("code") == "" {
			t.Fatalf("%v %v", back, err)
		}
	})
	t.Run("PKCE required", func(t *testing.T) {
		c := p.Clients().SecretBasic
		u, _, _ := authURL(p, c, "openid", nil)
		pu, _ := url.Parse(u)
		q := pu.Query()
		q.Del("code_challenge")
		q.Del("code_challenge_method")
		pu.RawQuery = q.Encode()
		back, err := p.NewBrowser().SignIn(pu.String(), oidcprovidertest.Alice, true)
		if err != nil || back.Query().Get("error") != "invalid_request" {
			t.Fatalf("%v %v", back, err)
		}
	})
	t.Run("consent declined", func(t *testing.T) {
		u, _, _ := authURL(p, p.Clients().ECKey, "openid profile", nil)
		back, err := p.NewBrowser().SignIn(u, oidcprovidertest.Bob, false)
		if err != nil || back.Query().Get("error") != "access_denied" {
			t.Fatalf("%v %v", back, err)
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		u, _, _ := authURL(p, p.Clients().RSAKey, "openid", nil)
		if back, err := p.NewBrowser().SignIn(u, "mallory", true); err == nil {
			t.Fatalf("mallory signed in: %v", back)
		}
	})
}

func TestRefreshTokenRotation(t *testing.T) {
	p := oidcprovidertest.Start(t, oidcprovidertest.Options{})
	c := p.Clients().RSAKey
	first := signIn(t, p, p.NewBrowser(), c, oidcprovidertest.Alice)
	refresh := func(rt string) tokenResponse {
		return token(t, p, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
			"resource": {oidcprovidertest.ResourceTodo}})
	}
	second := refresh(first.RefreshToken)
	if second.Status != http.StatusOK || second.RefreshToken == "" || second.RefreshToken == first.RefreshToken || second.AccessToken == "" {
		t.Fatalf("first refresh: %+v", second)
	}
	if at, _ := verifyJWT(t, p, second.AccessToken); at["aud"] != oidcprovidertest.ResourceTodo {
		t.Fatalf("refreshed access token %v", at)
	}
	// The rotated-out refresh token is spent.
	if again := refresh(first.RefreshToken); again.Status != http.StatusBadRequest || again.Error != "invalid_grant" {
		t.Fatalf("reused refresh token: %+v", again)
	}
}

func TestSignOutWithBackchannelLogout(t *testing.T) {
	got := make(chan string, 4)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		got <- r.PostForm.Get("logout_token")
	}))
	defer rp.Close()
	p := oidcprovidertest.Start(t, oidcprovidertest.Options{BackchannelLogoutURI: rp.URL + "/backchannel-logout"})
	b := p.NewBrowser()
	c := p.Clients().SecretBasic
	tr := signIn(t, p, b, c, oidcprovidertest.Alice)
	back, err := b.SignOut(p.EndSessionURL(tr.IDToken, "bye"))
	if err != nil {
		t.Fatal(err)
	}
	if back.Scheme+"://"+back.Host+back.Path != oidcprovidertest.DefaultPostLogoutRedirectURI || back.Query().Get("state") != "bye" {
		t.Fatalf("redirected to %s", back)
	}
	var logoutToken string
	select {
	case logoutToken = <-got:
	default:
		t.Fatal("no back-channel logout notification") // the provider notifies before it redirects
	}
	claims, typ := verifyJWT(t, p, logoutToken)
	events, _ := claims["events"].(map[string]any)
	if _, ok := events["http://schemas.openid.net/event/backchannel-logout"]; !ok || claims["sub"] != "alice" ||
		claims["aud"] != c.ID || claims["sid"] == nil || typ != "logout+jwt" {
		t.Fatalf("logout token typ %q %v", typ, claims)
	}
	// The session is gone: a silent sign-in needs the user again.
	u, _, _ := authURL(p, c, "openid", url.Values{"prompt": {"none"}})
	if back, err := b.SignIn(u, "", false); err != nil || back.Query().Get("error") != "login_required" {
		t.Fatalf("%v %v", back, err)
	}
}

func TestRevocationPARAndDPoP(t *testing.T) {
	p := oidcprovidertest.Start(t, oidcprovidertest.Options{})
	m := p.Metadata()
	c := p.Clients().SecretPost
	t.Run("revoked refresh token", func(t *testing.T) {
		tr := signIn(t, p, p.NewBrowser(), c, oidcprovidertest.Bob)
		active := func() bool {
			_, body := postForm(t, m.IntrospectionEndpoint, url.Values{"token": {tr.RefreshToken}},
				func(r *http.Request, f url.Values) { authenticate(t, p, c, r, f) })
			var intro struct{ Active bool }
			json.Unmarshal(body, &intro)
			return intro.Active
		}
		if !active() {
			t.Fatal("refresh token inactive before revocation")
		}
		status, body := postForm(t, m.RevocationEndpoint, url.Values{"token": {tr.RefreshToken}, "token_type_hint": {"refresh_token"}},
			func(r *http.Request, f url.Values) { authenticate(t, p, c, r, f) })
		if status != http.StatusOK || active() {
			t.Fatalf("revocation %d: %s", status, body)
		}
		again := token(t, p, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}})
		if again.Error != "invalid_grant" {
			t.Fatalf("refresh with a revoked token: %+v", again)
		}
	})
	t.Run("pushed authorization request", func(t *testing.T) {
		u, verifier, state := authURL(p, c, "openid", nil)
		pu, _ := url.Parse(u)
		status, body := postForm(t, m.PushedAuthorizationRequestEndpoint, pu.Query(),
			func(r *http.Request, f url.Values) { authenticate(t, p, c, r, f) })
		var par struct {
			RequestURI string `json:"request_uri"`
			ExpiresIn  int    `json:"expires_in"`
		}
		if json.Unmarshal(body, &par); status != http.StatusCreated || !strings.HasPrefix(par.RequestURI, "urn:ietf:params:oauth:request_uri:") {
			t.Fatalf("PAR %d: %s", status, body)
		}
		back, err := p.NewBrowser().SignIn(m.AuthorizationEndpoint+"?"+url.Values{"client_id": {c.ID}, "request_uri": {par.RequestURI}}.Encode(), oidcprovidertest.Alice, true)
		if err != nil || back.Query().Get("state") != state || back.Query().Get("code") == "" {
			t.Fatalf("%v %v", back, err)
		}
		tr := token(t, p, c, url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")},
			"redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {verifier}})
		if tr.Status != http.StatusOK || tr.IDToken == "" {
			t.Fatalf("%+v", tr)
		}
	})
	t.Run("DPoP-bound token", func(t *testing.T) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
			(&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
		if err != nil {
			t.Fatal(err)
		}
		proof, err := jwt.Signed(signer).Claims(map[string]any{"htm": "POST", "htu": m.TokenEndpoint,
			"iat": time.Now().Unix(), "jti": random()}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		status, body := postForm(t, m.TokenEndpoint, url.Values{"grant_type": {"client_credentials"},
			"resource": {oidcprovidertest.ResourceTodo}, "scope": {"todo.read"}},
			func(r *http.Request, f url.Values) { authenticate(t, p, c, r, f); r.Header.Set("DPoP", proof) })
		var tr tokenResponse
		if json.Unmarshal(body, &tr); status != http.StatusOK || tr.TokenType != "DPoP" {
			t.Fatalf("%d: %s", status, body)
		}
		tp, _ := (&jose.JSONWebKey{Key: key.Public()}).Thumbprint(crypto.SHA256)
		cnf, _ := claimsOf(t, tr.AccessToken)["cnf"].(map[string]any)
		if cnf["jkt"] != base64.RawURLEncoding.EncodeToString(tp) {
			t.Fatalf("cnf %v", cnf)
		}
	})
}
