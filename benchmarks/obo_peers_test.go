package benchmarks

import (
	"context"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// oboPeers caches the OBO tokens of n callers of a web API (n-1 others plus
// the one hit) in identityweb and MSAL Go, by real OBO exchanges (see
// msal_cache_test.go for why not MSAL's serialized cache). x/oauth2 has no
// OBO.
func oboPeers(b *testing.B, n int) *peers {
	ctx := context.Background()
	idp := iwt.NewServer(b, iwt.Options{})
	incoming := make([]string, n)
	if err := parallel(n, 4, func(i int) (err error) {
		incoming[i], err = idp.UserToken(iwt.AliceUsername, iwt.WebAppClientID, iwt.WebAPIIdentifierURI, "access_as_user")
		return err
	}); err != nil {
		b.Fatal(err)
	}
	scopes := []string{"User.Read"}
	p := &peers{}

	acq, err := identityweb.NewTokenAcquirer(identityweb.Config{Instance: idp.URL + "/", TenantID: iwt.DefaultTenantID,
		ClientID: iwt.WebAPIClientID, ClientSecret: iwt.WebAPISecret}, identityweb.Options{HTTPClient: idp.Client(), Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	if err := parallel(n, 8, func(i int) error { _, err := acq.OnBehalfOf(ctx, incoming[i], scopes); return err }); err != nil {
		b.Fatal(err)
	}
	if res, err := acq.OnBehalfOf(ctx, incoming[0], scopes); err != nil || res.Metadata.CacheLevel != identityweb.CacheLevelL1 {
		b.Fatalf("identityweb's OBO cache missed: %v", err)
	}
	p.identityweb = func() error {
		_, err := acq.OnBehalfOf(ctx, incoming[0], scopes)
		return err
	}

	cred, _ := confidential.NewCredFromSecret(iwt.WebAPISecret)
	app, err := confidential.New(idp.Authority(iwt.DefaultTenantID), iwt.WebAPIClientID, cred,
		confidential.WithHTTPClient(idp.Client()), confidential.WithInstanceDiscovery(false))
	if err != nil {
		b.Fatal(err)
	}
	if err := parallel(n, 8, func(i int) error { _, err := app.AcquireTokenOnBehalfOf(ctx, incoming[i], scopes); return err }); err != nil {
		b.Fatal(err)
	}
	before := idp.TokenRequests()
	if res, err := app.AcquireTokenOnBehalfOf(ctx, incoming[0], scopes); err != nil || res.Metadata.TokenSource != confidential.TokenSourceCache {
		b.Fatalf("MSAL's OBO cache missed: %v", err)
	}
	if idp.TokenRequests() != before {
		b.Fatal("MSAL's OBO hit went to the provider")
	}
	p.msal = func() error {
		_, err := app.AcquireTokenOnBehalfOf(ctx, incoming[0], scopes)
		return err
	}
	return p
}

// BenchmarkOBOTokenHit: a web API's OBO hit for one caller with the OBO
// tokens of n callers cached.
func BenchmarkOBOTokenHit(b *testing.B) { runPeers(b, "obo", oboPeers, sequential) }

// BenchmarkOBOTokenHitParallel: the same from GOMAXPROCS goroutines.
func BenchmarkOBOTokenHitParallel(b *testing.B) { runPeers(b, "obo", oboPeers, concurrent) }
