package benchmarks

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/auth0/go-jwt-middleware/v2/jwks"
	"github.com/auth0/go-jwt-middleware/v2/validator"
	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

// BenchmarkBearerPeers validates the same Entra-shaped access token on every
// request: identityweb's RequireBearer (validated-token cache on), go-oidc's
// verifier, and auth0's go-jwt-middleware validator, against the same
// development provider over HTTPS, in the same run.
func BenchmarkBearerPeers(b *testing.B) {
	idp := iwt.NewServer(b, iwt.Options{})
	tok, err := idp.UserToken(iwt.AliceUsername, iwt.WebAppClientID, iwt.WebAPIIdentifierURI, "access_as_user")
	if err != nil {
		b.Fatal(err)
	}
	issuer := idp.Issuer(iwt.DefaultTenantID)
	ctx := context.Background()
	b.Run("lib=identityweb", func(b *testing.B) {
		app, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: iwt.DefaultTenantID,
			ClientID: iwt.WebAPIClientID, ClientSecret: iwt.WebAPISecret},
			identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}})
		if err != nil {
			b.Fatal(err)
		}
		h := app.RequireBearer(identityweb.RequireScopes("access_as_user"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			h.ServeHTTP(discard{}, req)
		}
	})
	b.Run("lib=go-oidc", func(b *testing.B) {
		octx := oidc.ClientContext(ctx, idp.Client())
		p, err := oidc.NewProvider(octx, issuer)
		if err != nil {
			b.Fatal(err)
		}
		v := p.Verifier(&oidc.Config{ClientID: iwt.WebAPIClientID})
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := v.Verify(octx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("lib=go-jwt-middleware", func(b *testing.B) {
		u, _ := url.Parse(issuer)
		provider := jwks.NewCachingProvider(u, 5*time.Minute, jwks.WithCustomClient(idp.Client()))
		v, err := validator.New(provider.KeyFunc, validator.RS256, issuer, []string{iwt.WebAPIClientID})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := v.ValidateToken(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
