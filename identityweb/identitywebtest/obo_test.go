package identitywebtest_test

import (
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// obo asks for scope on behalf of the user of assertion, as the web API.
func obo(s *iwt.Server, assertion, scope string) (*oauth2.Token, error) {
	conf := clientcredentials.Config{
		ClientID: iwt.WebAPIClientID, ClientSecret: iwt.WebAPISecret, TokenURL: s.TokenEndpoint(tenant),
		Scopes: []string{scope}, AuthStyle: oauth2.AuthStyleInParams,
		EndpointParams: url.Values{"grant_type": {iwt.GrantJWTBearer}, "assertion": {assertion}, "requested_token_use": {"on_behalf_of"}},
	}
	return conf.Token(ctxFor(s))
}

func exchange(s *iwt.Server, subject, scope string) (*oauth2.Token, error) {
	conf := clientcredentials.Config{
		ClientID: iwt.WebAPIClientID, ClientSecret: iwt.WebAPISecret, TokenURL: s.TokenEndpoint(tenant),
		Scopes: []string{scope}, AuthStyle: oauth2.AuthStyleInHeader,
		EndpointParams: url.Values{"grant_type": {iwt.GrantTokenExchange}, "subject_token": {subject},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}},
	}
	return conf.Token(ctxFor(s))
}

// userTokenForAPI signs Alice in to the web app for the web API's scope.
func userTokenForAPI(t *testing.T, s *iwt.Server) string {
	t.Helper()
	return signIn(t, s, iwt.AliceUsername, apiScope).AccessToken
}

func TestOnBehalfOf(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	incoming := userTokenForAPI(t, s)
	tok, err := obo(s, incoming, "User.Read")
	if err != nil {
		t.Fatal(err)
	}
	c := claimsOf(t, tok.AccessToken)
	if c["aud"] != iwt.GraphResource || c["scp"] != "User.Read" || c["oid"] != iwt.AliceObjectID || c["azp"] != iwt.WebAPIClientID {
		t.Fatalf("OBO token claims = %v", c)
	}
	if tok.RefreshToken != "" {
		t.Fatal("OBO without offline_access returned a refresh token")
	}
	if n := s.TokenRequests(iwt.GrantJWTBearer); n != 1 {
		t.Fatalf("jwt-bearer requests = %d", n)
	}
	// Long-running OBO: with offline_access the API gets a refresh token it
	// can use after the incoming token has expired.
	tok, err = obo(s, incoming, "User.Read offline_access")
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("OBO with offline_access: %v, refresh token %t", err, tok != nil && tok.RefreshToken != "")
	}
	if _, err := refreshAs(s, iwt.WebAPIClientID, iwt.WebAPISecret, tok.RefreshToken, "User.Read"); err != nil {
		t.Fatalf("refreshing the OBO refresh token: %v", err)
	}
}

func TestTokenExchange(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	tok, err := exchange(s, userTokenForAPI(t, s), "User.Read")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("issued_token_type") != "urn:ietf:params:oauth:token-type:access_token" {
		t.Fatalf("issued_token_type = %v", tok.Extra("issued_token_type"))
	}
	if c := claimsOf(t, tok.AccessToken); c["oid"] != iwt.AliceObjectID {
		t.Fatalf("claims = %v", c)
	}
	_, err = exchange(s, "garbage", "User.Read")
	wantOAuthError(t, err, "invalid_grant", iwt.CodeOBOAssertionInvalid)
}

func TestOnBehalfOfErrors(t *testing.T) {
	clk := newFakeClock()
	s := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername, Now: clk.Now, AccessTokenLifetime: time.Hour})
	incoming := userTokenForAPI(t, s)
	graphToken := signIn(t, s, iwt.AliceUsername, "User.Read").AccessToken // audience Graph, not the API
	appToken, err := daemon(s, apiDefault).Token(ctxFor(s))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("wrong audience", func(t *testing.T) {
		_, err := obo(s, graphToken, "User.Read")
		wantOAuthError(t, err, "invalid_grant", iwt.CodeOBOAssertionInvalid)
	})
	t.Run("app token", func(t *testing.T) {
		_, err := obo(s, appToken.AccessToken, "User.Read")
		wantOAuthError(t, err, "invalid_grant", iwt.CodeOBOAssertionInvalid)
	})
	t.Run("tampered", func(t *testing.T) {
		_, err := obo(s, incoming[:len(incoming)-6]+"AAAAAA", "User.Read")
		wantOAuthError(t, err, "invalid_grant", iwt.CodeOBOAssertionInvalid)
	})
	t.Run("consent required", func(t *testing.T) {
		// The web API has no grant for Mail.Read and Alice never consented.
		_, err := obo(s, incoming, "Mail.Read")
		wantOAuthError(t, err, "invalid_grant", iwt.CodeConsentRequired)
	})
	t.Run("no resource", func(t *testing.T) {
		_, err := obo(s, incoming, "openid")
		wantOAuthError(t, err, "invalid_scope", iwt.CodeInvalidScope)
	})
	t.Run("missing requested_token_use", func(t *testing.T) {
		code, body := postToken(t, s, tenant, url.Values{"grant_type": {iwt.GrantJWTBearer}, "client_id": {iwt.WebAPIClientID},
			"client_secret": {iwt.WebAPISecret}, "assertion": {incoming}, "scope": {"User.Read"}})
		if code != 400 || body["error"] != "invalid_request" {
			t.Fatalf("= %d %v", code, body)
		}
	})
	t.Run("expired", func(t *testing.T) {
		clk.Advance(61 * time.Minute)
		_, err := obo(s, incoming, "User.Read")
		wantOAuthError(t, err, "invalid_grant", iwt.CodeOBOAssertionExpired)
	})
}

func TestMintedTokens(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{})
	tok, err := s.UserToken(iwt.BobUsername, iwt.WebAppClientID, iwt.WebAPIIdentifierURI, "access_as_user")
	if err != nil {
		t.Fatal(err)
	}
	if c := claimsOf(t, tok); c["aud"] != iwt.WebAPIClientID || c["scp"] != "access_as_user" || c["oid"] != iwt.BobObjectID {
		t.Fatalf("UserToken claims = %v", c)
	}
	// A minted user token is a valid OBO assertion.
	if _, err := obo(s, tok, "User.Read"); err != nil {
		t.Fatal(err)
	}
	app, err := s.AppToken(iwt.DaemonClientID, iwt.WebAPIIdentifierURI, "Todo.Read.All")
	if err != nil {
		t.Fatal(err)
	}
	if c := claimsOf(t, app); c["idtyp"] != "app" {
		t.Fatalf("AppToken claims = %v", c)
	}
	if _, err := s.UserToken("nobody", iwt.WebAppClientID, iwt.WebAPIIdentifierURI); err == nil {
		t.Fatal("UserToken for an unknown user succeeded")
	}
	if len(s.Requests()) != 1 { // only the OBO request above
		t.Fatalf("minting logged requests: %d", len(s.Requests()))
	}
}
