package oidcprovidertest_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/identityweb/go-identityweb/internal/oidcprovidertest"
)

var httpClient = &http.Client{Timeout: 30 * time.Second}

func random() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenResponse is what the token endpoint answers, success or error.
type tokenResponse struct {
	Status           int    `json:"-"`
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int    `json:"expires_in"`
	Scope            string `json:"scope"`
	RefreshToken     string `json:"refresh_token"`
	IDToken          string `json:"id_token"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// authenticate adds c's client authentication to form and req by its method,
// signing a private_key_jwt assertion with go-jose.
func authenticate(t *testing.T, p *oidcprovidertest.Provider, c oidcprovidertest.Client, req *http.Request, form url.Values) {
	t.Helper()
	switch c.AuthMethod {
	case "client_secret_basic":
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	case "client_secret_post":
		form.Set("client_id", c.ID)
		form.Set("client_secret", c.Secret)
	case "private_key_jwt":
		alg := jose.RS256
		if c.ID == oidcprovidertest.ClientECKeyID {
			alg = jose.ES256
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: c.Key, KeyID: c.KeyID}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		a, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: c.ID, Subject: c.ID, ID: random(),
			Audience: jwt.Audience{p.Metadata().TokenEndpoint}, IssuedAt: jwt.NewNumericDate(now),
			Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute))}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		form.Set("client_id", c.ID)
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", a)
	default:
		t.Fatalf("unknown auth method %q", c.AuthMethod)
	}
}

// postForm posts form to endpoint with c's authentication, using auth to add
// it (authenticate when nil), and decodes the JSON answer.
func postForm(t *testing.T, endpoint string, form url.Values, auth func(*http.Request, url.Values)) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint, nil)
	auth(req, form)
	req.Body = io.NopCloser(strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// token posts a token request for client c and returns the answer.
func token(t *testing.T, p *oidcprovidertest.Provider, c oidcprovidertest.Client, form url.Values) tokenResponse {
	t.Helper()
	status, body := postForm(t, p.Metadata().TokenEndpoint, form, func(r *http.Request, f url.Values) { authenticate(t, p, c, r, f) })
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		t.Fatalf("token response %d: %s", status, body)
	}
	tr.Status = status
	return tr
}

// authURL builds an authorization request with PKCE and returns it with its
// code verifier and state.
func authURL(p *oidcprovidertest.Provider, c oidcprovidertest.Client, scope string, extra url.Values) (u, verifier, state string) {
	verifier, state = random(), random()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id":             {c.ID},
		"response_type":         {"code"},
		"redirect_uri":          {c.RedirectURIs[0]},
		"scope":                 {scope},
		"state":                 {state},
		"nonce":                 {random()},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	for k, v := range extra {
		q[k] = v
	}
	return p.Metadata().AuthorizationEndpoint + "?" + q.Encode(), verifier, state
}

// claimsOf returns a JWT's claims without verifying it (the tests that need
// verification do it with the provider's keys).
func claimsOf(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
