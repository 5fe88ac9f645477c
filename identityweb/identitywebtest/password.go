package identitywebtest

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
)

// grantPassword serves the resource owner password credentials grant
// (grant_type=password, RFC 6749 §4.3), for development only: it lets a
// shell get a user's token with curl, without a browser. It is off unless
// Options.DevelopmentPasswordGrant is set. As in Entra, the user must have
// consented to the scopes already (AADSTS65001 otherwise); a user without a
// password (picked with one click on the sign-in page) is accepted with an
// empty or absent password.
func (p *Provider) grantPassword(rc *requestContext, r *http.Request, form url.Values) (*tokenResponse, *oauthError) {
	client, azpacr, e := p.authenticateClient(rc, r, form)
	if e != nil {
		return nil, e
	}
	p.mu.Lock()
	user := p.users[strings.ToLower(strings.TrimSpace(form.Get("username")))]
	p.mu.Unlock()
	if user == nil || subtle.ConstantTimeCompare([]byte(form.Get("password")), []byte(user.Password)) != 1 {
		return nil, invalidGrant(CodeBadCredentials, "Error validating credentials due to invalid username or password.")
	}
	if !client.MultiTenant && user.tenant != client.tenant || rc.tenant != nil && user.tenant != rc.tenant {
		return nil, invalidGrant(CodeUserNotInTenant, "User account '%s' does not exist in the application's tenant.", truncate(user.Username, 128))
	}
	scopes, e := p.parseScopes(form.Get("scope"))
	if e != nil {
		return nil, e
	}
	g, e := scopes.single()
	if e != nil {
		return nil, e
	}
	out := &grant{client: client, azpacr: azpacr, user: user, tenantID: user.tenant.ID, oidc: scopes.oidc, authTime: rc.now}
	if g != nil {
		granted, missing := p.delegated(user, client, g)
		if len(missing) > 0 {
			return nil, consentRequired(client.ClientID, client.Name)
		}
		out.res, out.scp = g.res, granted
	}
	if scopes.has("offline_access") {
		out.fam = p.newFamily(user, client, user.tenant.ID, scopes.String(), nil, rc.now)
	}
	return p.issue(rc, out)
}
