package identityweb_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
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
	app, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: tenant,
		ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Logger: quiet()}, InsecureAllowHTTPCookies: true})
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
}

type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(b []byte) (int, error) { return io.Discard.Write(b) }
func (discardWriter) WriteHeader(int)             {}
