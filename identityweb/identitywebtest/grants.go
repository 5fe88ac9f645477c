package identitywebtest

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/identityweb/go-identityweb/internal/jws"
)

func (p *Provider) grantAuthCode(rc *requestContext, r *http.Request, form url.Values) (*tokenResponse, *oauthError) {
	client, azpacr, e := p.authenticateClient(rc, r, form)
	if e != nil {
		return nil, e
	}
	code := form.Get("code")
	if code == "" {
		return nil, invalidRequest(CodeInvalidRequest, "The request body must contain the following parameter: 'code'.")
	}
	p.mu.Lock()
	c := p.codes[code]
	var used bool
	if c != nil {
		used = c.used
		c.used = true // a code is spent by its first redemption attempt, good or bad
	}
	p.mu.Unlock()
	switch {
	case c == nil:
		return nil, invalidGrant(CodeInvalidGrant, "The provided authorization code is invalid. Send a new interactive authorization request for this user and resource.")
	case used:
		return nil, invalidGrant(CodeCodeRedeemed, "The provided authorization code or refresh token has expired due to inactivity. OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	case c.client != client:
		return nil, invalidGrant(CodeInvalidGrant, "The provided authorization code was issued to another client.")
	case rc.now.After(c.expires):
		return nil, invalidGrant(CodeExpiredOrRevoked, "The provided authorization code or refresh token has expired or been revoked. Send a new interactive authorization request for this user and resource.")
	case form.Get("redirect_uri") != c.redirectURI:
		return nil, invalidGrant(CodeRedirectMismatch, "The redirect URI '%s' specified in the request does not match the redirect URI used to obtain the authorization code.", truncate(form.Get("redirect_uri"), 256))
	}
	if e := checkPKCE(c, form.Get("code_verifier")); e != nil {
		return nil, e
	}
	scopes := c.scopes
	if raw := form.Get("scope"); raw != "" {
		if scopes, e = p.parseScopes(raw); e != nil {
			return nil, e
		}
		for _, o := range c.scopes.oidc {
			if !scopes.has(o) {
				scopes.oidc = append(scopes.oidc, o)
			}
		}
	}
	g := &grant{client: client, azpacr: azpacr, user: c.user, tenantID: c.tenantID, oidc: scopes.oidc,
		nonce: c.nonce, acrs: c.acrs, xmsCC: c.xmsCC, authTime: c.authTime, clientInfo: c.clientInfo || form.Get("client_info") == "1"}
	if len(scopes.groups) > 0 {
		first := scopes.groups[0] // Entra issues the access token for the first resource asked for
		granted, missing := p.delegated(c.user, client, &first)
		if len(missing) > 0 {
			return nil, consentRequired(client.ClientID, client.Name)
		}
		g.res, g.scp = first.res, granted
	}
	g.fam = p.newFamily(c.user, client, c.tenantID, scopes.String(), c.acrs, c.authTime)
	g.sid, g.fam.sid = c.sid, c.sid
	return p.issue(rc, g)
}

func checkPKCE(c *authCode, verifier string) *oauthError {
	if c.challenge == "" {
		return nil
	}
	if verifier == "" {
		return invalidGrant(CodePKCEMismatch, "The code_verifier parameter is required: the authorization request carried a code_challenge.")
	}
	want := verifier
	if c.method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		want = b64url(sum[:])
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(c.challenge)) != 1 {
		return invalidGrant(CodePKCEMismatch, "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.")
	}
	return nil
}

func (p *Provider) grantRefresh(rc *requestContext, r *http.Request, form url.Values) (*tokenResponse, *oauthError) {
	client, azpacr, e := p.authenticateClient(rc, r, form)
	if e != nil {
		return nil, e
	}
	raw := form.Get("refresh_token")
	if raw == "" {
		return nil, invalidRequest(CodeInvalidRequest, "The request body must contain the following parameter: 'refresh_token'.")
	}
	p.mu.Lock()
	t := p.refresh[raw]
	p.mu.Unlock()
	if t == nil {
		return nil, invalidGrant(CodeMalformedRequest, "Invalid request. The refresh token is malformed or unknown.")
	}
	fam := t.fam
	if fam.client != client {
		return nil, invalidGrant(CodeInvalidGrant, "The refresh token was issued to a different client.")
	}
	if rc.tenant != nil && rc.tenant.ID != fam.tenantID {
		return nil, invalidGrant(CodeUserNotInTenant, "User account from identity provider does not exist in tenant '%s'.", rc.tenant.ID)
	}
	scopeParam := form.Get("scope")
	if scopeParam == "" {
		scopeParam = fam.scope
	}
	scopes, e := p.parseScopes(scopeParam)
	if e != nil {
		return nil, e
	}
	g, e := scopes.single()
	if e != nil {
		return nil, e
	}
	cr, e := parseClaims(form.Get("claims"))
	if e != nil {
		return nil, e
	}
	out := &grant{client: client, azpacr: azpacr, user: fam.user, tenantID: fam.tenantID, oidc: scopes.oidc, sid: fam.sid,
		acrs: cr.acrs, xmsCC: cr.xmsCC, authTime: fam.authTime, fam: fam, clientInfo: form.Get("client_info") == "1"}
	if !containsStr(out.oidc, "offline_access") {
		out.oidc = append(out.oidc, "offline_access") // refresh tokens keep being issued
	}
	if g != nil {
		granted, missing := p.delegated(fam.user, client, g)
		if len(missing) > 0 {
			return nil, consentRequired(client.ClientID, client.Name)
		}
		out.res, out.scp = g.res, granted
	}
	if len(unsatisfied(cr.acrs, fam.acrs)) > 0 {
		return nil, interactionRequired(form.Get("claims"))
	}
	// Spend the token: check and mark under one lock so that of two
	// concurrent redemptions exactly one wins.
	p.mu.Lock()
	switch {
	case t.used:
		rc.record.RefreshTokenReused = true
		if p.opts.RevokeRefreshTokenFamilyOnReuse {
			fam.revoked = true
		}
		p.mu.Unlock()
		return nil, invalidGrant(CodeExpiredOrRevoked, "The provided authorization code or refresh token has expired or been revoked: this refresh token was already redeemed.")
	case fam.revoked:
		p.mu.Unlock()
		return nil, invalidGrant(CodeExpiredOrRevoked, "The provided authorization code or refresh token has expired or been revoked. Send a new interactive authorization request for this user and resource.")
	case rc.now.After(t.expires):
		p.mu.Unlock()
		return nil, invalidGrant(CodeExpiredOrRevoked, "The refresh token has expired due to inactivity.")
	}
	t.used = true
	p.mu.Unlock()
	return p.issue(rc, out)
}

func interactionRequired(claims string) *oauthError {
	e := newErr(http.StatusBadRequest, "interaction_required", CodeInteractionRequired, "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.")
	e.claims = claims
	return e
}

// grantOnBehalfOf serves Entra's jwt-bearer OBO grant and, with exchange,
// RFC 8693 token exchange; both trade a user's access token for the API
// (the client) for one to a downstream API.
func (p *Provider) grantOnBehalfOf(rc *requestContext, r *http.Request, form url.Values, exchange bool) (*tokenResponse, *oauthError) {
	client, azpacr, e := p.authenticateClient(rc, r, form)
	if e != nil {
		return nil, e
	}
	if client.PublicClient {
		return nil, invalidClient(CodeCredentialRequired, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
	assertion, scopeParam := form.Get("assertion"), form.Get("scope")
	if exchange {
		assertion = form.Get("subject_token")
		switch form.Get("subject_token_type") {
		case "urn:ietf:params:oauth:token-type:access_token", "urn:ietf:params:oauth:token-type:jwt":
		default:
			return nil, invalidRequest(CodeInvalidRequest, "The request body must contain the parameter 'subject_token_type' with value 'urn:ietf:params:oauth:token-type:access_token'.")
		}
		if scopeParam == "" && form.Get("audience") != "" {
			scopeParam = form.Get("audience") + "/.default"
		}
	} else if form.Get("requested_token_use") != "on_behalf_of" {
		return nil, invalidRequest(CodeInvalidRequest, "The request body must contain the following parameter: 'requested_token_use' with value 'on_behalf_of'.")
	}
	if assertion == "" {
		return nil, invalidRequest(CodeInvalidRequest, "The request body must contain the following parameter: 'assertion'.")
	}
	claims, e := p.checkUserAssertion(rc, client, assertion)
	if e != nil {
		return nil, e
	}
	p.mu.Lock()
	user := p.usersByID[claims.Oid]
	p.mu.Unlock()
	if user == nil || user.tenant.ID != claims.Tid {
		return nil, invalidGrant(CodeOBOAssertionInvalid, "The user of the assertion was not found.")
	}
	if rc.tenant != nil && rc.tenant.ID != claims.Tid {
		return nil, invalidGrant(CodeUserNotInTenant, "User account from identity provider does not exist in tenant '%s'.", rc.tenant.ID)
	}
	scopes, e := p.parseScopes(scopeParam)
	if e != nil {
		return nil, e
	}
	g, e := scopes.single()
	if e != nil {
		return nil, e
	}
	if g == nil {
		return nil, invalidScope(CodeInvalidScope, "The provided value for the input parameter 'scope' is not valid: on-behalf-of needs a downstream API's scope.")
	}
	granted, missing := p.delegated(user, client, g)
	if len(missing) > 0 {
		return nil, consentRequired(client.ClientID, client.Name)
	}
	cr, e := parseClaims(form.Get("claims"))
	if e != nil {
		return nil, e
	}
	if len(unsatisfied(cr.acrs, claims.Acrs)) > 0 {
		return nil, interactionRequired(form.Get("claims"))
	}
	out := &grant{client: client, azpacr: azpacr, user: user, tenantID: claims.Tid, res: g.res, scp: granted,
		acrs: claims.Acrs, xmsCC: cr.xmsCC}
	if scopes.has("offline_access") { // long-running OBO: the API keeps a refresh token
		out.oidc = []string{"offline_access"}
		out.fam = p.newFamily(user, client, claims.Tid, scopes.String(), claims.Acrs, rc.now)
	}
	resp, e := p.issue(rc, out)
	if e == nil && exchange {
		resp.IssuedTokenType = "urn:ietf:params:oauth:token-type:access_token"
	}
	return resp, e
}

// checkUserAssertion validates the incoming access token of an OBO request:
// signed by one of this provider's keys, issued by it, for the client, in
// its lifetime, and representing a user.
func (p *Provider) checkUserAssertion(rc *requestContext, client *clientState, assertion string) (*accessClaims, *oauthError) {
	bad := func(reason string) *oauthError {
		return invalidGrant(CodeOBOAssertionInvalid, "Assertion failed signature validation. [Reason - %s]", reason)
	}
	tok, err := jws.Parse(assertion, jws.RS256)
	if err != nil {
		return nil, bad("The assertion is malformed or its algorithm is not allowed.")
	}
	var key *signingKey
	p.mu.Lock()
	for _, k := range p.keys {
		if k.kid == tok.Header.Kid {
			key = k
		}
	}
	p.mu.Unlock()
	if key == nil {
		return nil, bad("The key was not found.")
	}
	if tok.Verify(&key.key.PublicKey) != nil {
		return nil, bad("The signature is invalid.")
	}
	var c accessClaims
	if tok.Claims(&c) != nil {
		return nil, bad("The claims could not be read.")
	}
	if !isGUID(c.Tid) || c.Iss != rc.issuer(c.Tid) {
		return nil, bad("The issuer is not trusted.")
	}
	if c.Aud != client.ClientID && (client.identifier == "" || c.Aud != client.identifier) {
		return nil, invalidGrant(CodeOBOAssertionInvalid, "Assertion audience does not match the Client app presenting the assertion. The audience in the assertion was '%s' and the expected audience is '%s' or one of the Application Uris of this application.", truncate(c.Aud, 128), client.ClientID)
	}
	skew := p.opts.ClockSkew
	if !rc.now.Before(time.Unix(c.Exp, 0)) || time.Unix(c.Nbf, 0).After(rc.now.Add(skew)) {
		return nil, invalidGrant(CodeOBOAssertionExpired, "Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token.")
	}
	if c.Idtyp == "app" || strings.TrimSpace(c.Scp) == "" {
		return nil, invalidGrant(CodeOBOAssertionInvalid, "The assertion is an application token; on-behalf-of needs a token that represents a user.")
	}
	return &c, nil
}
