package identitywebtest_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// A daemon gets an app token for the web API with client credentials. In a
// test, identitywebtest.NewServer(t, identitywebtest.Options{}) does the
// NewProvider + httptest part and closes the server at cleanup.
func ExampleNewProvider() {
	p, err := identitywebtest.NewProvider(identitywebtest.Options{})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewTLSServer(p)
	defer srv.Close()

	conf := clientcredentials.Config{
		ClientID:     identitywebtest.DaemonClientID,
		ClientSecret: identitywebtest.DaemonSecret,
		TokenURL:     srv.URL + "/" + identitywebtest.DefaultTenantID + "/oauth2/v2.0/token",
		Scopes:       []string{identitywebtest.WebAPIIdentifierURI + "/.default"},
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
	tok, err := conf.Token(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(tok.TokenType, strings.Count(tok.AccessToken, "."), p.TokenRequests("client_credentials"))
	// Output: Bearer 2 1
}

// Fault injection: the next token request fails with 503 and Retry-After.
func ExampleProvider_FailNext() {
	p, _ := identitywebtest.NewProvider(identitywebtest.Options{})
	srv := httptest.NewTLSServer(p)
	defer srv.Close()
	p.FailNext(1, identitywebtest.Fault{Status: 503, RetryAfter: 30e9})

	conf := clientcredentials.Config{
		ClientID: identitywebtest.DaemonClientID, ClientSecret: identitywebtest.DaemonSecret,
		TokenURL:  srv.URL + "/" + identitywebtest.DefaultTenantID + "/oauth2/v2.0/token",
		Scopes:    []string{identitywebtest.WebAPIIdentifierURI + "/.default"},
		AuthStyle: oauth2.AuthStyleInParams,
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
	_, err := conf.Token(ctx)
	re := err.(*oauth2.RetrieveError)
	fmt.Println(re.Response.StatusCode, re.Response.Header.Get("Retry-After"), re.ErrorCode)
	_, err = conf.Token(ctx)
	fmt.Println(err == nil)
	// Output:
	// 503 30 temporarily_unavailable
	// true
}

// The built-in configuration's names, as the samples use them.
func ExampleDefaultConfig() {
	cfg := identitywebtest.DefaultConfig()
	t := cfg.Tenants[0]
	fmt.Println(t.Domain)
	for _, c := range t.Clients {
		fmt.Println(c.Name)
	}
	for _, u := range t.Users {
		fmt.Println(u.Username)
	}
	// Output:
	// contoso.onmicrosoft.com
	// Web app (development)
	// Todo web API (development)
	// Daemon (development)
	// alice@contoso.onmicrosoft.com
	// bob@contoso.onmicrosoft.com
}

// One fake clock for the provider, the token acquirer and the caches: tests
// move time instead of waiting for it.
func ExampleClock() {
	clk := identitywebtest.NewClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	_, _ = identitywebtest.NewProvider(identitywebtest.Options{Now: clk.Now})
	clk.Advance(time.Hour)
	clk.Sleep(context.Background(), 30*time.Minute) // returns at once
	fmt.Println(clk.Now().Format("15:04"))
	// Output: 13:30
}
