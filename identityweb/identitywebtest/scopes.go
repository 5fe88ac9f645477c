package identitywebtest

import (
	"encoding/json"
	"slices"
	"strings"
)

// oidcScopes need no consent and name no resource.
var oidcScopes = map[string]bool{"openid": true, "profile": true, "email": true, "offline_access": true}

// requestedScopes is a parsed scope parameter.
type requestedScopes struct {
	oidc   []string
	groups []resourceScopes // in order of first appearance
}

// resourceScopes are the scopes asked of one API (names as the API exposes
// them, or ".default").
type resourceScopes struct {
	res   *clientState
	names []string
}

func (rs requestedScopes) has(oidc string) bool { return slices.Contains(rs.oidc, oidc) }

// parseScopes resolves a space-separated scope parameter against the
// registered APIs. Bare names ("User.Read") belong to Graph, as in Entra.
func (p *Provider) parseScopes(raw string) (requestedScopes, *oauthError) {
	var rs requestedScopes
	for _, s := range strings.Fields(raw) {
		if oidcScopes[s] {
			if !rs.has(s) {
				rs.oidc = append(rs.oidc, s)
			}
			continue
		}
		resName, name := GraphResource, s
		if i := strings.LastIndexByte(s, '/'); i >= 0 {
			resName, name = s[:i], s[i+1:]
		}
		p.mu.Lock()
		res := p.resources[resName]
		p.mu.Unlock()
		if res == nil {
			e := newErr(400, "invalid_resource", CodeResourceNotFound, "The resource principal named %s was not found in the tenant. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", truncate(resName, 128))
			return rs, e
		}
		if name != ".default" && !slices.Contains(res.Scopes, name) && !slices.Contains(res.AppRoles, name) {
			return rs, invalidScope(CodeInvalidScope, "The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", truncate(s, 128))
		}
		idx := slices.IndexFunc(rs.groups, func(g resourceScopes) bool { return g.res == res })
		if idx < 0 {
			rs.groups = append(rs.groups, resourceScopes{res: res})
			idx = len(rs.groups) - 1
		}
		if !slices.Contains(rs.groups[idx].names, name) {
			rs.groups[idx].names = append(rs.groups[idx].names, name)
		}
	}
	return rs, nil
}

// single returns the one resource of a token request (nil when only OIDC
// scopes were asked for), or AADSTS28000 when several are named.
func (rs requestedScopes) single() (*resourceScopes, *oauthError) {
	switch len(rs.groups) {
	case 0:
		return nil, nil
	case 1:
		return &rs.groups[0], nil
	default:
		return nil, invalidScope(CodeMultipleResources, "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope %s is not valid.", truncate(rs.String(), 256))
	}
}

func (rs requestedScopes) String() string {
	parts := append([]string(nil), rs.oidc...)
	for _, g := range rs.groups {
		for _, n := range g.names {
			parts = append(parts, fullScope(g.res, n))
		}
	}
	return strings.Join(parts, " ")
}

// fullScope names a scope the way consent records and responses name it.
func fullScope(res *clientState, name string) string {
	if res.ClientID == GraphClientID {
		return name
	}
	return res.identifier + "/" + name
}

// permissionFor returns client's granted permission on res, if any.
func (c *clientState) permissionFor(res *clientState) *Permission {
	if i, ok := c.perms[res]; ok {
		return &c.Permissions[i]
	}
	return nil
}

// delegated expands g's names (".default" → the statically configured
// scopes) and splits them into those the user has consented to for client
// and those still missing.
func (p *Provider) delegated(user *userState, client *clientState, g *resourceScopes) (granted, missing []string) {
	perm := client.permissionFor(g.res)
	var names []string
	for _, n := range g.names {
		if n == ".default" {
			if perm != nil {
				names = append(names, perm.Scopes...)
			}
			continue
		}
		if slices.Contains(g.res.Scopes, n) {
			names = append(names, n)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	consented := p.consents[user.ObjectID+"|"+client.ClientID]
	for _, n := range names {
		if slices.Contains(granted, n) || slices.Contains(missing, n) {
			continue
		}
		if consented[fullScope(g.res, n)] || (perm != nil && perm.AdminConsented && slices.Contains(perm.Scopes, n)) {
			granted = append(granted, n)
		} else {
			missing = append(missing, n)
		}
	}
	return granted, missing
}

// recordConsent remembers that user consented to scopes for client.
func (p *Provider) recordConsent(user *userState, client *clientState, g *resourceScopes, names []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	set := p.consentSet(user.ObjectID, client.ClientID)
	for _, n := range names {
		set[fullScope(g.res, n)] = true
	}
}

// GrantConsent records that the user consented to scopes (full names, as in
// User.Consented) for a client.
func (p *Provider) GrantConsent(username, clientID string, scopes ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u := p.users[strings.ToLower(username)]; u != nil {
		set := p.consentSet(u.ObjectID, clientID)
		for _, s := range scopes {
			set[s] = true
		}
	}
}

// RevokeConsent forgets every consent the user gave the client.
func (p *Provider) RevokeConsent(username, clientID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u := p.users[strings.ToLower(username)]; u != nil {
		delete(p.consents, u.ObjectID+"|"+clientID)
	}
}

// claimsRequest is what the provider honours of a "claims" parameter:
// authentication context values (acrs) and client capabilities (xms_cc) asked
// for the access token.
type claimsRequest struct {
	acrs  []string
	xmsCC []string
}

func parseClaims(raw string) (claimsRequest, *oauthError) {
	var cr claimsRequest
	if raw == "" {
		return cr, nil
	}
	type claimReq struct {
		Essential bool     `json:"essential"`
		Value     string   `json:"value"`
		Values    []string `json:"values"`
	}
	var doc map[string]map[string]*claimReq
	if len(raw) > 8<<10 || json.Unmarshal([]byte(raw), &doc) != nil {
		return cr, invalidRequest(CodeMalformedRequest, "The claims parameter is not valid JSON.")
	}
	at := doc["access_token"]
	values := func(c *claimReq) []string {
		if c == nil {
			return nil
		}
		if c.Value != "" {
			return append([]string{c.Value}, c.Values...)
		}
		return c.Values
	}
	cr.acrs = values(at["acrs"])
	cr.xmsCC = values(at["xms_cc"])
	return cr, nil
}

// unsatisfied returns the acrs values in want that have not been satisfied.
func unsatisfied(want, have []string) []string {
	var out []string
	for _, v := range want {
		if !slices.Contains(have, v) {
			out = append(out, v)
		}
	}
	return out
}
