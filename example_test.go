package identityweb_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"

	"github.com/go-identityweb/identityweb"
	"github.com/go-identityweb/identityweb/identitywebtest"
)

// devIdP starts the development identity provider for the examples. A real
// app points Config at Entra ID (Instance, TenantID) or another provider.
func devIdP() (*identitywebtest.Provider, *httptest.Server) {
	p, err := identitywebtest.NewProvider(identitywebtest.Options{})
	if err != nil {
		panic(err)
	}
	return p, httptest.NewTLSServer(p)
}

// A daemon gets an app token with client credentials; the second call is
// served from the cache.
func ExampleTokenAcquirer_ForApp() {
	_, srv := devIdP()
	defer srv.Close()

	acq, err := identityweb.NewTokenAcquirer(identityweb.Config{
		Instance:     srv.URL + "/",
		TenantID:     identitywebtest.DefaultTenantID,
		ClientID:     identitywebtest.DaemonClientID,
		ClientSecret: identitywebtest.DaemonSecret, // development only: prefer certificates
	}, identityweb.Options{HTTPClient: srv.Client()})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		res, err := acq.ForApp(ctx, identitywebtest.WebAPIIdentifierURI+"/.default")
		if err != nil {
			panic(err)
		}
		fmt.Printf("source=%s level=%s reason=%s\n", res.Metadata.Source, res.Metadata.CacheLevel, res.Metadata.RefreshReason)
	}
	// Output:
	// source=identity_provider level=none reason=no_cached_token
	// source=cache level=l1 reason=not_applicable
}

// A web API calls Microsoft Graph on behalf of its caller, with the access
// token it received.
func ExampleTokenAcquirer_OnBehalfOf() {
	p, srv := devIdP()
	defer srv.Close()
	api, err := identityweb.NewTokenAcquirer(identityweb.Config{
		Instance: srv.URL + "/", TenantID: identitywebtest.DefaultTenantID,
		ClientID: identitywebtest.WebAPIClientID, ClientSecret: identitywebtest.WebAPISecret,
	}, identityweb.Options{HTTPClient: srv.Client(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		panic(err)
	}
	// In a real API this is the bearer token of the incoming request.
	incoming, _ := p.MintUserToken(srv.URL, identitywebtest.AliceUsername, identitywebtest.WebAppClientID,
		identitywebtest.WebAPIIdentifierURI, "access_as_user")
	res, err := api.OnBehalfOf(context.Background(), incoming, []string{"User.Read"})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.TokenType, res.Metadata.Source, p.TokenRequests(identitywebtest.GrantJWTBearer))
	// Output: Bearer identity_provider 1
}

// Libraries that take an oauth2.TokenSource get one backed by the cache.
func ExampleTokenAcquirer_AppTokenSource() {
	_, srv := devIdP()
	defer srv.Close()
	acq, _ := identityweb.NewTokenAcquirer(identityweb.Config{
		Instance: srv.URL + "/", TenantID: identitywebtest.DefaultTenantID,
		ClientID: identitywebtest.DaemonClientID, ClientSecret: identitywebtest.DaemonSecret,
	}, identityweb.Options{HTTPClient: srv.Client()})
	tok, err := acq.AppTokenSource(context.Background(), identitywebtest.WebAPIIdentifierURI+"/.default").Token()
	fmt.Println(err, tok.Type(), tok.Valid())
	// Output: <nil> Bearer true
}
