package identityweb_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/url"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

const (
	tenant     = iwt.DefaultTenantID
	apiDefault = iwt.WebAPIIdentifierURI + "/.default"
	apiScope   = iwt.WebAPIIdentifierURI + "/access_as_user"
	apiScope2  = iwt.WebAPIIdentifierURI + "/Todo.ReadWrite"
	redirect   = "http://localhost:5000/signin-oidc"
)

// fakeClock is shared by the provider and the acquirer; Sleep moves it.
type fakeClock = iwt.Clock

func newClock() *fakeClock { return iwt.NewClock(time.Now().Truncate(time.Second)) }

// logBuffer collects log lines safely.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type env struct {
	t    *testing.T
	clk  *fakeClock
	idp  *iwt.Server
	logs *logBuffer
}

func newEnv(t *testing.T, opts iwt.Options) *env {
	t.Helper()
	clk := newClock()
	opts.Now = clk.Now
	return &env{t: t, clk: clk, idp: iwt.NewServer(t, opts), logs: &logBuffer{}}
}

// acquirer returns a TokenAcquirer for a client of the provider, on the
// shared fake clock, logging at debug level into e.logs.
func (e *env) acquirer(clientID, secret string, mutate ...func(*identityweb.Config, *identityweb.Options)) *identityweb.TokenAcquirer {
	e.t.Helper()
	cfg := identityweb.Config{Instance: e.idp.URL + "/", TenantID: tenant, ClientID: clientID, ClientSecret: secret}
	opts := identityweb.Options{HTTPClient: e.idp.Client(), Clock: e.clk,
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, m := range mutate {
		m(&cfg, &opts)
	}
	a, err := identityweb.NewTokenAcquirer(cfg, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { a.Close() })
	return a
}

func (e *env) daemon(mutate ...func(*identityweb.Config, *identityweb.Options)) *identityweb.TokenAcquirer {
	return e.acquirer(iwt.DaemonClientID, iwt.DaemonSecret, mutate...)
}

// code runs the authorization request for username through the provider's
// pages and returns the code and the PKCE verifier.
func (e *env) code(username string, scopes ...string) identityweb.AuthCode {
	e.t.Helper()
	verifier := oauth2.GenerateVerifier()
	q := url.Values{"client_id": {iwt.WebAppClientID}, "response_type": {"code"}, "redirect_uri": {redirect},
		"scope": {"openid profile offline_access " + join(scopes)}, "state": {"s"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	back, err := e.idp.NewBrowser().SignIn(e.idp.AuthorizeEndpoint(tenant)+"?"+q.Encode(), username, "", true)
	if err != nil {
		e.t.Fatal(err)
	}
	return identityweb.AuthCode{Code: back.Query().Get("code"), CodeVerifier: verifier, RedirectURI: redirect}
}

func join(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += v
	}
	return out
}

var bg = context.Background()

func cacheKeys(t *testing.T, a *identityweb.TokenAcquirer) []string {
	return identityweb.CacheKeysForTest(t, a, apiDefault)
}

// benchCode is env.code for benchmarks.
func benchCode(b *testing.B, e *env) identityweb.AuthCode {
	verifier := oauth2.GenerateVerifier()
	q := url.Values{"client_id": {iwt.WebAppClientID}, "response_type": {"code"}, "redirect_uri": {redirect},
		"scope": {"openid profile offline_access " + apiScope}, "state": {"s"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	back, err := e.idp.NewBrowser().SignIn(e.idp.AuthorizeEndpoint(tenant)+"?"+q.Encode(), iwt.AliceUsername, "", true)
	if err != nil {
		b.Fatal(err)
	}
	return identityweb.AuthCode{Code: back.Query().Get("code"), CodeVerifier: verifier, RedirectURI: redirect}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func thumbOf(c *iwt.Certificate) string {
	s := sha256.Sum256(c.Cert.Raw)
	return hex.EncodeToString(s[:])
}
