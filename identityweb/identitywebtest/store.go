package identitywebtest

import (
	"strings"
	"time"
)

// authCode is an issued authorization code.
type authCode struct {
	client      *clientState
	redirectURI string
	user        *userState
	tenantID    string
	scopes      requestedScopes
	nonce       string
	challenge   string
	method      string
	acrs        []string
	xmsCC       []string
	authTime    time.Time
	expires     time.Time
	used        bool
	clientInfo  bool
	sid         string // the provider session's id, the ID token's "sid"
}

// family groups the refresh tokens descended from one sign-in (or one OBO).
type family struct {
	id       string
	user     *userState
	client   *clientState
	tenantID string
	scope    string   // what a refresh without "scope" renews
	acrs     []string // authentication contexts satisfied at sign-in
	authTime time.Time
	revoked  bool
	sid      string // the provider session signed in at (ID tokens' "sid")
}

// refreshToken is one issued refresh token; each can be redeemed once.
type refreshToken struct {
	fam     *family
	expires time.Time
	used    bool
}

// authTx is an authorization request waiting for the person at the browser.
type authTx struct {
	id           string
	tenantSeg    string
	client       *clientState
	redirectURI  string
	responseMode string
	state        string
	nonce        string
	challenge    string
	method       string
	scopes       requestedScopes
	prompt       string
	loginHint    string
	claims       claimsRequest
	clientInfo   bool
	user         *userState
	expires      time.Time
}

// idpSession is the provider's own browser session (single sign-on).
type idpSession struct {
	user     *userState
	acrs     []string
	authTime time.Time
	expires  time.Time
	id       string          // "sid" in ID tokens (not the cookie's value)
	clients  map[string]bool // the apps signed in through it (front-channel logout)
}

const idpSessionCookie = "identitywebtest_session"

func (p *Provider) newRefreshToken(rc *requestContext, fam *family) string {
	tok := randomToken("rt.")
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sweepLocked(rc.now)
	p.refresh[tok] = &refreshToken{fam: fam, expires: rc.now.Add(p.opts.RefreshTokenLifetime)}
	return tok
}

func (p *Provider) newFamily(user *userState, client *clientState, tenantID, scope string, acrs []string, authTime time.Time) *family {
	f := &family{id: randomID(), user: user, client: client, tenantID: tenantID, scope: scope, acrs: acrs, authTime: authTime}
	p.mu.Lock()
	p.families[f.id] = f
	p.mu.Unlock()
	return f
}

// sweepLocked drops expired codes, transactions, refresh tokens and jtis so
// that a long-running provider stays bounded. It walks everything, so it
// runs at most once a minute of the provider's clock: issuing stays O(1)
// with 100,000 live refresh tokens (the benchmarks'). Expired entries are
// refused on use whether or not they were swept. p.mu must be held.
func (p *Provider) sweepLocked(now time.Time) {
	if now.Sub(p.lastSweep) < time.Minute && now.After(p.lastSweep) {
		return
	}
	p.lastSweep = now
	for k, c := range p.codes {
		if now.After(c.expires.Add(time.Hour)) {
			delete(p.codes, k)
		}
	}
	for k, t := range p.txs {
		if now.After(t.expires) {
			delete(p.txs, k)
		}
	}
	for k, r := range p.refresh {
		if now.After(r.expires) {
			delete(p.refresh, k)
		}
	}
	for k, exp := range p.jtis {
		if now.After(exp) {
			delete(p.jtis, k)
		}
	}
	for k, s := range p.sessions {
		if now.After(s.expires) {
			delete(p.sessions, k)
		}
	}
}

// RevokeRefreshTokens revokes every refresh token issued to the user (as an
// administrator revoking sessions would). Later refreshes fail with
// invalid_grant (AADSTS70008) and the app must send the user to sign in.
func (p *Provider) RevokeRefreshTokens(username string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.families {
		if strings.EqualFold(f.user.Username, username) {
			f.revoked = true
		}
	}
}

// RefreshTokenReuses counts the redemptions of refresh tokens that had
// already been redeemed: a client that spends each refresh token once keeps
// it at zero.
func (p *Provider) RefreshTokenReuses() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.log {
		if r.Endpoint == "token" && r.GrantType == "refresh_token" && r.RefreshTokenReused {
			n++
		}
	}
	return n
}
