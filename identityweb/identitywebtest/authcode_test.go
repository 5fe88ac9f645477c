package identitywebtest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

func TestAuthCodeFlowWithGoOIDC(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{})
	ctx := ctxFor(s)
	provider, err := oidc.NewProvider(ctx, s.Issuer(tenant))
	if err != nil {
		t.Fatal(err)
	}
	tok := signIn(t, s, iwt.AliceUsername, "User.Read")
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: iwt.WebAppClientID}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("ID token does not verify: %v", err)
	}
	var c struct {
		Nonce, Name, PreferredUsername, Oid, Tid, Ver string
	}
	var m map[string]any
	idt.Claims(&m)
	c.Nonce, c.Name, c.Oid, c.Tid, c.Ver = m["nonce"].(string), m["name"].(string), m["oid"].(string), m["tid"].(string), m["ver"].(string)
	if c.Nonce != "n0" || c.Oid != iwt.AliceObjectID || c.Tid != tenant || c.Ver != "2.0" || m["preferred_username"] != iwt.AliceUsername || c.Name == "" {
		t.Fatalf("id token claims = %v", m)
	}
	if tok.RefreshToken == "" || tok.TokenType != "Bearer" {
		t.Fatalf("token = %+v", tok)
	}
	at := claimsOf(t, tok.AccessToken)
	if at["aud"] != iwt.GraphResource || at["scp"] != "User.Read" || at["azp"] != iwt.WebAppClientID || at["azpacr"] != "1" || at["oid"] != iwt.AliceObjectID {
		t.Fatalf("access token claims = %v", at)
	}
	if tok.Extra("ext_expires_in") == nil || tok.Extra("scope") == nil {
		t.Fatalf("response lacks ext_expires_in/scope")
	}
	if n := s.TokenRequests("authorization_code"); n != 1 {
		t.Fatalf("authorization_code requests = %d", n)
	}
}

func TestConsentPageAndIncrementalConsent(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{})
	b := s.NewBrowser()
	conf := webApp(s, apiScope)
	back, err := b.SignIn(conf.AuthCodeURL("s1"), iwt.BobUsername, "", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.ConsentShown) != 1 || b.ConsentShown[0] != apiScope {
		t.Fatalf("consent page showed %v, want [%s]", b.ConsentShown, apiScope)
	}
	tok, err := conf.Exchange(ctxFor(s), back.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	if c := claimsOf(t, tok.AccessToken); c["aud"] != iwt.WebAPIClientID || c["scp"] != "access_as_user" {
		t.Fatalf("api token = %v", c)
	}
	// Silent refresh for a scope not yet consented: consent_required.
	_, err = refreshFor(s, tok.RefreshToken, apiScope2)
	e := wantOAuthError(t, err, "invalid_grant", iwt.CodeConsentRequired)
	if e.Suberror != "consent_required" {
		t.Fatalf("suberror = %q", e.Suberror)
	}
	// Back through sign-in (same browser: the provider session is kept):
	// only the new scope is asked for.
	back, err = b.SignIn(webApp(s, apiScope2).AuthCodeURL("s2"), iwt.BobUsername, "", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.ConsentShown) != 1 || b.ConsentShown[0] != apiScope2 {
		t.Fatalf("incremental consent showed %v", b.ConsentShown)
	}
	if _, err := refreshFor(s, tok.RefreshToken, apiScope2); err != nil {
		t.Fatalf("refresh after consent: %v", err)
	}
	_ = back
}

func TestConsentDeclined(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{})
	back, err := s.NewBrowser().SignIn(webApp(s, apiScope).AuthCodeURL("s"), iwt.BobUsername, "", false)
	if err != nil {
		t.Fatal(err)
	}
	q := back.Query()
	if q.Get("error") != "access_denied" || !strings.HasPrefix(q.Get("error_description"), "AADSTS65004") || q.Get("state") != "s" || q.Get("code") != "" {
		t.Fatalf("declined consent redirect = %s", back)
	}
}

func TestPKCEFailure(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	conf := webApp(s)
	for name, opt := range map[string][]oauth2.AuthCodeOption{
		"wrong verifier":   {oauth2.VerifierOption(randomVerifier())},
		"missing verifier": nil,
	} {
		t.Run(name, func(t *testing.T) {
			back, err := s.NewBrowser().SignIn(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(randomVerifier())), "", "", true)
			if err != nil {
				t.Fatal(err)
			}
			_, err = conf.Exchange(ctxFor(s), back.Query().Get("code"), opt...)
			wantOAuthError(t, err, "invalid_grant", iwt.CodePKCEMismatch)
		})
	}
	t.Run("plain", func(t *testing.T) {
		v := randomVerifier()
		back, _ := s.NewBrowser().SignIn(conf.AuthCodeURL("s", oauth2.SetAuthURLParam("code_challenge", v)), "", "", true)
		if _, err := conf.Exchange(ctxFor(s), back.Query().Get("code"), oauth2.VerifierOption(v)); err != nil {
			t.Fatalf("plain PKCE: %v", err)
		}
	})
}

func TestRequirePKCE(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername, RequirePKCE: true})
	back, err := s.NewBrowser().SignIn(webApp(s).AuthCodeURL("s"), "", "", true)
	if err != nil {
		t.Fatal(err)
	}
	if back.Query().Get("error") != "invalid_request" {
		t.Fatalf("no code_challenge with RequirePKCE: %s", back)
	}
}

func TestCodeReplay(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	conf := webApp(s)
	back, _ := s.NewBrowser().SignIn(conf.AuthCodeURL("s"), "", "", true)
	code := back.Query().Get("code")
	if _, err := conf.Exchange(ctxFor(s), code); err != nil {
		t.Fatal(err)
	}
	_, err := conf.Exchange(ctxFor(s), code)
	wantOAuthError(t, err, "invalid_grant", iwt.CodeCodeRedeemed)
	_, err = conf.Exchange(ctxFor(s), "code.not-a-code")
	wantOAuthError(t, err, "invalid_grant", iwt.CodeInvalidGrant)
}

func TestCodeExpiresAndIsBoundToClientAndRedirect(t *testing.T) {
	clk := newFakeClock()
	s := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername, Now: clk.Now})
	conf := webApp(s)
	code := func() string {
		back, _ := s.NewBrowser().SignIn(conf.AuthCodeURL("s"), "", "", true)
		return back.Query().Get("code")
	}
	c := code()
	clk.Advance(11 * 60e9)
	_, err := conf.Exchange(ctxFor(s), c)
	wantOAuthError(t, err, "invalid_grant", iwt.CodeExpiredOrRevoked)

	other := *conf
	other.RedirectURL = "http://localhost:5000/other"
	_, err = other.Exchange(ctxFor(s), code())
	wantOAuthError(t, err, "invalid_grant", iwt.CodeRedirectMismatch)

	api := *conf
	api.ClientID, api.ClientSecret = iwt.WebAPIClientID, iwt.WebAPISecret
	_, err = api.Exchange(ctxFor(s), code())
	wantOAuthError(t, err, "invalid_grant", iwt.CodeInvalidGrant)
}

func TestAuthorizeErrors(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{})
	b := s.NewBrowser()
	base := webApp(s).AuthCodeURL("s")
	with := func(k, v string) string {
		u, _ := url.Parse(base)
		q := u.Query()
		q.Set(k, v)
		u.RawQuery = q.Encode()
		return u.String()
	}
	// Errors that must not redirect (the reply URL is not trusted).
	for name, target := range map[string]string{
		"unregistered redirect": with("redirect_uri", "https://evil.example/cb"),
		"unknown client":        with("client_id", "99999999-0000-4000-8000-000000000009"),
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := b.Client.Get(target)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
	// Errors that go back to the app.
	for name, tc := range map[string]struct{ target, err string }{
		"bad response_type": {with("response_type", "token"), "unsupported_response_type"},
		"unknown scope":     {with("scope", "openid "+iwt.WebAPIIdentifierURI+"/nope"), "invalid_scope"},
		"bad claims":        {with("claims", "{not json"), "invalid_request"},
		"prompt none":       {with("prompt", "none"), "login_required"},
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := b.Client.Get(tc.target)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if loc == nil || !strings.HasPrefix(loc.String(), appRedir) || loc.Query().Get("error") != tc.err || loc.Query().Get("state") != "s" {
				t.Fatalf("redirect = %v, want error %s", loc, tc.err)
			}
		})
	}
}

func TestBadPasswordAndSSO(t *testing.T) {
	cfg := iwt.DefaultConfig()
	cfg.Tenants[0].Users = append(cfg.Tenants[0].Users, iwt.User{ObjectID: "cccccccc-0000-4000-8000-00000000000c", Username: "carol@" + iwt.DefaultTenantDomain, Name: "Carol", Password: "p@ss"})
	s := iwt.NewServer(t, iwt.Options{Config: cfg})
	b := s.NewBrowser()
	_, err := b.SignIn(webApp(s).AuthCodeURL("s"), "carol@"+iwt.DefaultTenantDomain, "wrong", true)
	if err == nil || !strings.Contains(err.Error(), "AADSTS50126") {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := b.SignIn(webApp(s).AuthCodeURL("s"), "carol@"+iwt.DefaultTenantDomain, "p@ss", true); err != nil {
		t.Fatalf("right password: %v", err)
	}
	// Same browser, prompt=none: signed in silently from the provider session.
	back, err := b.SignIn(webApp(s).AuthCodeURL("s", oauth2.SetAuthURLParam("prompt", "none")), "", "", true)
	if err != nil || back.Query().Get("code") == "" {
		t.Fatalf("prompt=none with a session: %v %v", back, err)
	}
	// After logout the session is gone.
	resp, err := b.Client.Get(s.URL + "/" + tenant + "/oauth2/v2.0/logout?post_logout_redirect_uri=" + url.QueryEscape("http://localhost:5000/signout-callback-oidc") + "&client_id=" + iwt.WebAppClientID + "&state=bye")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != "http://localhost:5000/signout-callback-oidc?state=bye" {
		t.Fatalf("logout redirect = %q", loc)
	}
	back, _ = b.SignIn(webApp(s).AuthCodeURL("s", oauth2.SetAuthURLParam("prompt", "none")), "", "", true)
	if back.Query().Get("error") != "login_required" {
		t.Fatalf("prompt=none after logout = %s", back)
	}
}

func TestLogoutRefusesUnregisteredRedirect(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{})
	c := s.NewBrowser().Client
	resp, err := c.Get(s.URL + "/" + tenant + "/oauth2/v2.0/logout?client_id=" + iwt.WebAppClientID + "&post_logout_redirect_uri=" + url.QueryEscape("https://evil.example/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" {
		t.Fatalf("logout to unregistered URL: status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestResponseModes(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	conf := webApp(s)
	back, err := s.NewBrowser().SignIn(conf.AuthCodeURL("fp", oauth2.SetAuthURLParam("response_mode", "form_post")), "", "", true)
	if err != nil || back.Query().Get("code") == "" || back.Query().Get("state") != "fp" {
		t.Fatalf("form_post: %v %v", back, err)
	}
	if _, err := conf.Exchange(ctxFor(s), back.Query().Get("code")); err != nil {
		t.Fatal(err)
	}
	back, err = s.NewBrowser().SignIn(conf.AuthCodeURL("fr", oauth2.SetAuthURLParam("response_mode", "fragment")), "", "", true)
	if err != nil {
		t.Fatal(err)
	}
	frag, _ := url.ParseQuery(back.Fragment)
	if frag.Get("code") == "" || frag.Get("state") != "fr" {
		t.Fatalf("fragment: %s", back)
	}
}

func TestClientInfoAndLoopbackRedirect(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	conf := webApp(s)
	conf.RedirectURL = "http://127.0.0.1:41234/signin-oidc" // any loopback port
	back, err := s.NewBrowser().SignIn(conf.AuthCodeURL("s", oauth2.SetAuthURLParam("client_info", "1")), "", "", true)
	if err != nil || back.Host != "127.0.0.1:41234" {
		t.Fatalf("loopback redirect: %v %v", back, err)
	}
	tok, err := conf.Exchange(ctxFor(s), back.Query().Get("code"), oauth2.SetAuthURLParam("client_info", "1"))
	if err != nil {
		t.Fatal(err)
	}
	if ci, _ := tok.Extra("client_info").(string); ci == "" {
		t.Fatal("no client_info in the token response")
	}
}

func TestClaimsChallengeHonoured(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	tok := signIn(t, s, "", "User.Read")
	claims := `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
	// The sign-in did not satisfy c1: a silent refresh asking for it needs interaction.
	conf := webApp(s, "User.Read")
	_, err := conf.TokenSource(ctxFor(s), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	code, body := postToken(t, s, tenant, url.Values{"grant_type": {"refresh_token"}, "client_id": {iwt.WebAppClientID},
		"client_secret": {iwt.WebAppSecret}, "refresh_token": {tok.RefreshToken}, "scope": {"User.Read"}, "claims": {claims}})
	if code != 400 || body["error"] != "interaction_required" || body["claims"] != claims {
		t.Fatalf("refresh with claims = %d %v", code, body)
	}
	// Signing in again with the claims satisfies them: the token carries acrs.
	v := oauth2.GenerateVerifier()
	back, _ := s.NewBrowser().SignIn(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("claims", claims)), "", "", true)
	tok2, err := conf.Exchange(ctxFor(s), back.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	acrs, _ := claimsOf(t, tok2.AccessToken)["acrs"].([]any)
	if len(acrs) != 1 || acrs[0] != "c1" {
		t.Fatalf("acrs = %v", acrs)
	}
}
