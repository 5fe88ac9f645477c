package identitywebtest_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

func daemon(s *iwt.Server, scope string) *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID: iwt.DaemonClientID, ClientSecret: iwt.DaemonSecret,
		TokenURL: s.TokenEndpoint(tenant), Scopes: []string{scope},
		AuthStyle: oauth2.AuthStyleInParams, // auto-detect would retry each failure
	}
}

func TestClientCredentials(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{})
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInParams, oauth2.AuthStyleInHeader} {
		conf := daemon(s, apiDefault)
		conf.AuthStyle = style
		tok, err := conf.Token(ctxFor(s))
		if err != nil {
			t.Fatalf("auth style %d: %v", style, err)
		}
		c := claimsOf(t, tok.AccessToken)
		roles, _ := c["roles"].([]any)
		if c["aud"] != iwt.WebAPIClientID || c["idtyp"] != "app" || len(roles) != 1 || roles[0] != "Todo.Read.All" ||
			c["azp"] != iwt.DaemonClientID || c["tid"] != tenant || c["iss"] != s.Issuer(tenant) || c["scp"] != nil || c["oid"] != c["sub"] {
			t.Fatalf("app token claims = %v", c)
		}
		if tok.Extra("refresh_token") != nil || tok.RefreshToken != "" {
			t.Fatal("client credentials must not return a refresh token")
		}
	}
	// The client id form of the resource is accepted too.
	if _, err := daemon(s, iwt.WebAPIClientID+"/.default").Token(ctxFor(s)); err != nil {
		t.Fatal(err)
	}
	if n := s.TokenRequests("client_credentials"); n != 3 {
		t.Fatalf("client_credentials requests = %d", n)
	}
}

func TestClientCredentialsErrors(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{})
	cases := []struct {
		name   string
		mutate func(*clientcredentials.Config)
		code   string
		aadsts int
	}{
		{"not .default", func(c *clientcredentials.Config) { c.Scopes = []string{apiScope} }, "invalid_scope", iwt.CodeDefaultScopeRequired},
		{"two scopes", func(c *clientcredentials.Config) { c.Scopes = []string{apiDefault, "User.Read"} }, "invalid_scope", iwt.CodeDefaultScopeRequired},
		{"unknown resource", func(c *clientcredentials.Config) { c.Scopes = []string{"api://nope/.default"} }, "invalid_resource", iwt.CodeResourceNotFound},
		{"bad secret", func(c *clientcredentials.Config) { c.ClientSecret = "wrong" }, "invalid_client", iwt.CodeBadSecret},
		{"unknown client", func(c *clientcredentials.Config) { c.ClientID = "99999999-0000-4000-8000-000000000009" }, "unauthorized_client", iwt.CodeUnknownClient},
		{"no credential", func(c *clientcredentials.Config) { c.ClientSecret = ""; c.AuthStyle = oauth2.AuthStyleInParams }, "invalid_client", iwt.CodeCredentialRequired},
		{"common tenant", func(c *clientcredentials.Config) { c.TokenURL = s.TokenEndpoint("common") }, "invalid_request", iwt.CodeTenantRequired},
		{"unknown scope name", func(c *clientcredentials.Config) { c.Scopes = []string{iwt.WebAPIIdentifierURI + "/nope/.default"} }, "invalid_resource", iwt.CodeResourceNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conf := daemon(s, apiDefault)
			tc.mutate(conf)
			_, err := conf.Token(ctxFor(s))
			wantOAuthError(t, err, tc.code, tc.aadsts)
		})
	}
}

func TestExpiredSecret(t *testing.T) {
	clk := newFakeClock()
	s := iwt.NewServer(t, iwt.Options{Now: clk.Now})
	s.SetClientSecrets(iwt.DaemonClientID, iwt.Secret{Value: "old", ExpiresAt: clk.Now().Add(time.Hour)}, iwt.Secret{Value: "new"})
	conf := daemon(s, apiDefault)
	conf.ClientSecret = "old"
	if _, err := conf.Token(ctxFor(s)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	_, err := conf.Token(ctxFor(s))
	wantOAuthError(t, err, "invalid_client", iwt.CodeExpiredSecret)
	conf.ClientSecret = "new"
	if _, err := conf.Token(ctxFor(s)); err != nil {
		t.Fatalf("rotated secret: %v", err)
	}
}

func TestTokenLifetimes(t *testing.T) {
	clk := newFakeClock()
	s := iwt.NewServer(t, iwt.Options{Now: clk.Now})
	_, body := postToken(t, s, tenant, url.Values{"grant_type": {"client_credentials"}, "client_id": {iwt.DaemonClientID},
		"client_secret": {iwt.DaemonSecret}, "scope": {apiDefault}})
	exp := body["expires_in"].(float64)
	if exp < 3600 || exp >= 5400 || body["ext_expires_in"] != exp || body["refresh_in"] != nil {
		t.Fatalf("default lifetime: %v", body)
	}
	c := claimsOf(t, body["access_token"].(string))
	if int64(c["exp"].(float64)) != clk.Now().Unix()+int64(exp) || int64(c["iat"].(float64)) != clk.Now().Unix() {
		t.Fatalf("exp/iat not from the provider clock: %v", c)
	}
	s.SetAccessTokenLifetime(24 * time.Hour)
	_, body = postToken(t, s, tenant, url.Values{"grant_type": {"client_credentials"}, "client_id": {iwt.DaemonClientID},
		"client_secret": {iwt.DaemonSecret}, "scope": {apiDefault}})
	if body["expires_in"] != float64(86400) || body["refresh_in"] != float64(43200) {
		t.Fatalf("long-lived token: expires_in=%v refresh_in=%v", body["expires_in"], body["refresh_in"])
	}
}

func TestErrorShape(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{})
	req, _ := http.NewRequest(http.MethodPost, s.TokenEndpoint(tenant), nil)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("client-request-id", "12345678-1234-4234-8234-123456789abc")
	req.Body = http.NoBody
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e entraError
	decodeJSON(t, resp, &e)
	if resp.StatusCode != 400 || e.Error != "invalid_request" || e.CorrelationID != "12345678-1234-4234-8234-123456789abc" ||
		len(e.ErrorCodes) != 1 || e.ErrorCodes[0] != iwt.CodeInvalidRequest || e.TraceID == "" || e.Timestamp == "" {
		t.Fatalf("error = %d %+v", resp.StatusCode, e)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatal("error responses must not be cached")
	}
}
