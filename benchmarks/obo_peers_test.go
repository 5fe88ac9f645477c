package benchmarks

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/go-identityweb/identityweb"
	iwt "github.com/go-identityweb/identityweb/identitywebtest"
)

// BenchmarkOBOTokenHit: a web API's OBO cache hit for one caller with N
// other callers' OBO tokens cached, identityweb vs MSAL Go, same provider.
func BenchmarkOBOTokenHit(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		idp := iwt.NewServer(b, iwt.Options{})
		ctx := context.Background()
		incoming := make([]string, n)
		for i := range incoming {
			incoming[i], _ = idp.UserToken(iwt.AliceUsername, iwt.WebAppClientID, iwt.WebAPIIdentifierURI, "access_as_user")
		}
		scopes := []string{"User.Read"}
		b.Run("identityweb/"+strconv.Itoa(n), func(b *testing.B) {
			acq, _ := identityweb.NewTokenAcquirer(identityweb.Config{Instance: idp.URL + "/", TenantID: iwt.DefaultTenantID,
				ClientID: iwt.WebAPIClientID, ClientSecret: iwt.WebAPISecret},
				identityweb.Options{HTTPClient: idp.Client(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			for _, tok := range incoming {
				if _, err := acq.OnBehalfOf(ctx, tok, scopes); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := acq.OnBehalfOf(ctx, incoming[0], scopes); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("msal-go/"+strconv.Itoa(n), func(b *testing.B) {
			cred, _ := confidential.NewCredFromSecret(iwt.WebAPISecret)
			app, _ := confidential.New(idp.Authority(iwt.DefaultTenantID), iwt.WebAPIClientID, cred,
				confidential.WithHTTPClient(idp.Client()), confidential.WithInstanceDiscovery(false))
			for _, tok := range incoming {
				if _, err := app.AcquireTokenOnBehalfOf(ctx, tok, scopes); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := app.AcquireTokenOnBehalfOf(ctx, incoming[0], scopes); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
