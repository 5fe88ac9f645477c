package benchmarks

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// msalApp is an MSAL Go confidential client on the development provider:
// instance discovery off, the provider's certificate trusted, nothing else
// changed.
func msalApp(t *testing.T, s *iwt.Server, clientID string, cred confidential.Credential) confidential.Client {
	t.Helper()
	app, err := confidential.New(s.Authority(iwt.DefaultTenantID), clientID, cred,
		confidential.WithHTTPClient(s.Client()), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatalf("confidential.New: %v", err)
	}
	return app
}

func secret(t *testing.T, v string) confidential.Credential {
	cred, err := confidential.NewCredFromSecret(v)
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func TestMSALClientCredentials(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{})
	app := msalApp(t, s, iwt.DaemonClientID, secret(t, iwt.DaemonSecret))
	ctx := context.Background()
	scopes := []string{iwt.WebAPIIdentifierURI + "/.default"}
	res, err := app.AcquireTokenByCredential(ctx, scopes)
	if err != nil {
		t.Fatalf("AcquireTokenByCredential: %v", err)
	}
	if strings.Count(res.AccessToken, ".") != 2 || res.Metadata.TokenSource != 0 /* IdentityProvider */ {
		t.Fatalf("result = %+v", res.Metadata)
	}
	// The second call is served from MSAL's cache.
	res, err = app.AcquireTokenByCredential(ctx, scopes)
	if err != nil || res.Metadata.TokenSource != 1 /* Cache */ {
		t.Fatalf("second call: %v, source %v", err, res.Metadata.TokenSource)
	}
	if n := s.TokenRequests("client_credentials"); n != 1 {
		t.Fatalf("token requests = %d", n)
	}
}

func TestMSALCertificate(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{})
	c, err := iwt.NewCertificate("msal daemon", 0)
	if err != nil {
		t.Fatal(err)
	}
	s.AddCertificate(iwt.DaemonClientID, c)
	cred, err := confidential.NewCredFromCert([]*x509.Certificate{c.Cert}, c.Key)
	if err != nil {
		t.Fatal(err)
	}
	app := msalApp(t, s, iwt.DaemonClientID, cred)
	if _, err := app.AcquireTokenByCredential(context.Background(), []string{iwt.WebAPIIdentifierURI + "/.default"}); err != nil {
		t.Fatalf("certificate credential: %v", err)
	}
}

func TestMSALAuthCodeSilentAndOBO(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	ctx := context.Background()
	web := msalApp(t, s, iwt.WebAppClientID, secret(t, iwt.WebAppSecret))
	redirect := "http://localhost:5000/signin-oidc"
	scopes := []string{iwt.WebAPIIdentifierURI + "/access_as_user"}
	authURL, err := web.AuthCodeURL(ctx, iwt.WebAppClientID, redirect, scopes)
	if err != nil {
		t.Fatal(err)
	}
	back, err := s.NewBrowser().SignIn(authURL, "", "", true)
	if err != nil {
		t.Fatal(err)
	}
	res, err := web.AcquireTokenByAuthCode(ctx, back.Query().Get("code"), redirect, scopes)
	if err != nil {
		t.Fatalf("AcquireTokenByAuthCode: %v", err)
	}
	if res.Account.PreferredUsername != iwt.AliceUsername || res.IDToken.Oid != iwt.AliceObjectID {
		t.Fatalf("account = %+v", res.Account)
	}
	silent, err := web.AcquireTokenSilent(ctx, scopes, confidential.WithSilentAccount(res.Account))
	if err != nil || silent.AccessToken != res.AccessToken {
		t.Fatalf("AcquireTokenSilent from cache: %v", err)
	}
	// Silent for another resource uses the refresh token.
	graph, err := web.AcquireTokenSilent(ctx, []string{"User.Read"}, confidential.WithSilentAccount(res.Account))
	if err != nil || graph.AccessToken == "" {
		t.Fatalf("AcquireTokenSilent with refresh: %v", err)
	}
	if n := s.TokenRequests("refresh_token"); n != 1 {
		t.Fatalf("refresh requests = %d", n)
	}
	// The web API exchanges Alice's token on her behalf.
	api := msalApp(t, s, iwt.WebAPIClientID, secret(t, iwt.WebAPISecret))
	obo, err := api.AcquireTokenOnBehalfOf(ctx, res.AccessToken, []string{"User.Read"})
	if err != nil || obo.AccessToken == "" {
		t.Fatalf("AcquireTokenOnBehalfOf: %v", err)
	}
}

func TestMSALSeesEntraErrors(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{})
	app := msalApp(t, s, iwt.DaemonClientID, secret(t, "wrong"))
	_, err := app.AcquireTokenByCredential(context.Background(), []string{iwt.WebAPIIdentifierURI + "/.default"})
	if err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("bad secret through MSAL: %v", err)
	}
}
