package identitywebtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/internal/jws"
)

// ManagedIdentityServer emulates Azure's managed identity endpoints on
// loopback — IMDS (/metadata/identity/oauth2/token, header Metadata: true)
// and App Service (/msi/token, header X-IDENTITY-HEADER) — and is the
// OpenID issuer of the tokens it hands out (discovery and keys), so that a
// Provider can trust them through a FederatedCredential.
type ManagedIdentityServer struct {
	// URL is the base URL (the IMDS endpoint and the issuer).
	URL string
	// IdentityHeader is the App Service secret clients must send.
	IdentityHeader string
	// Lifetime of issued tokens. Default: 1 hour.
	Lifetime time.Duration

	srv   *httptest.Server
	key   *signingKey
	mu    sync.Mutex
	delay time.Duration
	calls int
}

// NewManagedIdentityServer starts the emulator, closed at t's cleanup.
func NewManagedIdentityServer(t testing.TB) *ManagedIdentityServer {
	t.Helper()
	rk, err := generateRSAKey() // its own key: a different issuer from the Provider
	if err != nil {
		t.Fatal(err)
	}
	k, err := newSigningKey(rk)
	if err != nil {
		t.Fatal(err)
	}
	m := &ManagedIdentityServer{IdentityHeader: randomToken(""), Lifetime: time.Hour, key: k}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metadata/identity/oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata") != "true" {
			http.Error(w, `{"error":"invalid_request","error_description":"Required metadata header not specified"}`, http.StatusBadRequest)
			return
		}
		m.issue(w, r)
	})
	mux.HandleFunc("GET /msi/token", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-IDENTITY-HEADER") != m.IdentityHeader {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		m.issue(w, r)
	})
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]string{"issuer": m.URL, "jwks_uri": m.URL + "/keys"})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"keys": []jwk{m.key.jwk(m.URL)}})
	})
	m.srv = httptest.NewServer(mux)
	m.URL = m.srv.URL
	t.Cleanup(m.srv.Close)
	return m
}

// Subject is the "sub" of tokens for an identity: the client id of a
// user-assigned identity, or "system".
func (m *ManagedIdentityServer) Subject(clientID string) string {
	if clientID == "" {
		return "mi-system"
	}
	return "mi-" + clientID
}

// SetDelay delays every token answer (to test client timeouts).
func (m *ManagedIdentityServer) SetDelay(d time.Duration) {
	m.mu.Lock()
	m.delay = d
	m.mu.Unlock()
}

// Calls counts token requests served.
func (m *ManagedIdentityServer) Calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

func (m *ManagedIdentityServer) issue(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	delay := m.delay
	m.calls++
	m.mu.Unlock()
	sleepCtx(r.Context(), delay)
	q := r.URL.Query()
	resource := q.Get("resource")
	if resource == "" {
		http.Error(w, `{"error":"invalid_request","error_description":"resource is required"}`, http.StatusBadRequest)
		return
	}
	now := time.Now()
	exp := now.Add(m.Lifetime)
	tok, err := jws.Sign(m.key.key, jws.Header{Alg: jws.RS256, Typ: "JWT", Kid: m.key.kid}, map[string]any{
		"iss": m.URL, "sub": m.Subject(q.Get("client_id")), "aud": resource,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(),
	})
	if err != nil {
		http.Error(w, "signing failed", 500)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{
		"access_token": tok, "token_type": "Bearer", "resource": resource, "client_id": q.Get("client_id"),
		"expires_on": strconv.FormatInt(exp.Unix(), 10), "expires_in": strconv.Itoa(int(m.Lifetime / time.Second)),
	})
}
