package identitywebtest_test

import (
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// refreshFor redeems rt for scope as the web app. x/oauth2's own refresh
// sends no scope (the provider then renews what was signed in for), so this
// uses its client-credentials requester with the refresh grant, as MSAL and
// Entra do it: scope on every refresh.
func refreshFor(s *iwt.Server, rt string, scope string) (*oauth2.Token, error) {
	return refreshAs(s, iwt.WebAppClientID, iwt.WebAppSecret, rt, scope)
}

func refreshAs(s *iwt.Server, clientID, secret, rt, scope string) (*oauth2.Token, error) {
	cc := clientcredentials.Config{
		ClientID: clientID, ClientSecret: secret, TokenURL: s.TokenEndpoint(tenant),
		Scopes: strings.Fields(scope), AuthStyle: oauth2.AuthStyleInParams,
		EndpointParams: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}},
	}
	return cc.Token(ctxFor(s))
}

func TestRefreshRotatesAndIsSingleUse(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	first := signIn(t, s, "", "User.Read")
	second, err := refreshFor(s, first.RefreshToken, "User.Read")
	if err != nil {
		t.Fatal(err)
	}
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatal("refresh did not rotate the refresh token")
	}
	_, err = refreshFor(s, first.RefreshToken, "User.Read")
	wantOAuthError(t, err, "invalid_grant", iwt.CodeExpiredOrRevoked)
	if s.RefreshTokenReuses() != 1 {
		t.Fatalf("RefreshTokenReuses = %d", s.RefreshTokenReuses())
	}
	// Without reuse detection the family survives: the newest token works.
	if _, err := refreshFor(s, second.RefreshToken, "User.Read"); err != nil {
		t.Fatalf("newest refresh token after a reuse: %v", err)
	}
}

func TestRefreshReuseDetectionRevokesFamily(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername, RevokeRefreshTokenFamilyOnReuse: true})
	first := signIn(t, s, "", "User.Read")
	second, err := refreshFor(s, first.RefreshToken, "User.Read")
	if err != nil {
		t.Fatal(err)
	}
	_, err = refreshFor(s, first.RefreshToken, "User.Read")
	wantOAuthError(t, err, "invalid_grant", iwt.CodeExpiredOrRevoked)
	_, err = refreshFor(s, second.RefreshToken, "User.Read")
	wantOAuthError(t, err, "invalid_grant", iwt.CodeExpiredOrRevoked)
	// Another sign-in's family is untouched.
	other := signIn(t, s, "", "User.Read")
	if _, err := refreshFor(s, other.RefreshToken, "User.Read"); err != nil {
		t.Fatalf("unrelated family revoked: %v", err)
	}
}

func TestConcurrentRefreshSpendsTokenOnce(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	first := signIn(t, s, "", "User.Read")
	var ok, failed atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := refreshFor(s, first.RefreshToken, "User.Read"); err == nil {
				ok.Add(1)
			} else {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || failed.Load() != 19 || s.RefreshTokenReuses() != 19 {
		t.Fatalf("ok=%d failed=%d reuses=%d, want 1/19/19", ok.Load(), failed.Load(), s.RefreshTokenReuses())
	}
}

func TestRevokeRefreshTokens(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	tok := signIn(t, s, "", "User.Read")
	s.RevokeRefreshTokens(iwt.AliceUsername)
	_, err := refreshFor(s, tok.RefreshToken, "User.Read")
	wantOAuthError(t, err, "invalid_grant", iwt.CodeExpiredOrRevoked)
}

func TestRefreshMultiResourceAndErrors(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	tok := signIn(t, s, "", apiScope) // auto sign-in consents to the API scope
	graph, err := refreshFor(s, tok.RefreshToken, "User.Read")
	if err != nil {
		t.Fatal(err)
	}
	if c := claimsOf(t, graph.AccessToken); c["aud"] != iwt.GraphResource {
		t.Fatalf("aud = %v", c["aud"])
	}
	api, err := refreshFor(s, graph.RefreshToken, apiScope)
	if err != nil {
		t.Fatal(err)
	}
	if c := claimsOf(t, api.AccessToken); c["aud"] != iwt.WebAPIClientID || c["scp"] != "access_as_user" {
		t.Fatalf("api token claims = %v", c)
	}
	_, err = refreshFor(s, api.RefreshToken, apiScope+" User.Read")
	wantOAuthError(t, err, "invalid_scope", iwt.CodeMultipleResources)
	_, err = refreshFor(s, api.RefreshToken, iwt.WebAPIIdentifierURI+"/nope")
	wantOAuthError(t, err, "invalid_scope", iwt.CodeInvalidScope)
	_, err = refreshFor(s, "rt.garbage", "User.Read")
	wantOAuthError(t, err, "invalid_grant", iwt.CodeMalformedRequest)
	// Another client cannot redeem the web app's refresh token.
	_, err = refreshAs(s, iwt.WebAPIClientID, iwt.WebAPISecret, api.RefreshToken, "User.Read")
	wantOAuthError(t, err, "invalid_grant", iwt.CodeInvalidGrant)
}

func TestRefreshTokenExpires(t *testing.T) {
	clk := newFakeClock()
	s := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername, Now: clk.Now, RefreshTokenLifetime: 24 * 3600e9})
	tok := signIn(t, s, "", "User.Read")
	clk.Advance(25 * 3600e9)
	_, err := refreshFor(s, tok.RefreshToken, "User.Read")
	wantOAuthError(t, err, "invalid_grant", iwt.CodeExpiredOrRevoked)
}

func TestRefreshWithoutScopeRenewsSignIn(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	tok := signIn(t, s, "", apiScope)
	// x/oauth2's TokenSource refreshes with no scope parameter.
	conf := webApp(s)
	next, err := conf.TokenSource(ctxFor(s), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if c := claimsOf(t, next.AccessToken); c["aud"] != iwt.WebAPIClientID {
		t.Fatalf("aud = %v", c["aud"])
	}
}
