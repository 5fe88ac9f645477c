package identitywebtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"time"

	"github.com/identityweb/go-identityweb/internal/jws"
)

func generateRSAKey() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) }

func sha1Sum(b []byte) [20]byte { return sha1.Sum(b) }

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// accessClaims are the claims of an Entra v2.0 access token.
type accessClaims struct {
	Aud               string   `json:"aud"`
	Iss               string   `json:"iss"`
	Iat               int64    `json:"iat"`
	Nbf               int64    `json:"nbf"`
	Exp               int64    `json:"exp"`
	Acrs              []string `json:"acrs,omitempty"`
	Azp               string   `json:"azp"`
	Azpacr            string   `json:"azpacr"`
	Idtyp             string   `json:"idtyp,omitempty"`
	Name              string   `json:"name,omitempty"`
	Oid               string   `json:"oid"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Rh                string   `json:"rh"`
	Roles             []string `json:"roles,omitempty"`
	Scp               string   `json:"scp,omitempty"`
	Sub               string   `json:"sub"`
	Tid               string   `json:"tid"`
	Uti               string   `json:"uti"`
	Ver               string   `json:"ver"`
	XmsCC             []string `json:"xms_cc,omitempty"`
}

// idClaims are the claims of an Entra v2.0 ID token.
type idClaims struct {
	Aud               string `json:"aud"`
	Iss               string `json:"iss"`
	Iat               int64  `json:"iat"`
	Nbf               int64  `json:"nbf"`
	Exp               int64  `json:"exp"`
	AuthTime          int64  `json:"auth_time,omitempty"`
	Name              string `json:"name,omitempty"`
	Nonce             string `json:"nonce,omitempty"`
	Oid               string `json:"oid"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	Email             string `json:"email,omitempty"`
	Rh                string `json:"rh"`
	Sub               string `json:"sub"`
	Tid               string `json:"tid"`
	Uti               string `json:"uti"`
	Ver               string `json:"ver"`
	Sid               string `json:"sid,omitempty"`
}

// tokenResponse is the token endpoint's success body.
type tokenResponse struct {
	TokenType       string `json:"token_type"`
	Scope           string `json:"scope,omitempty"`
	ExpiresIn       int64  `json:"expires_in"`
	ExtExpiresIn    int64  `json:"ext_expires_in"`
	RefreshIn       int64  `json:"refresh_in,omitempty"`
	AccessToken     string `json:"access_token"`
	RefreshToken    string `json:"refresh_token,omitempty"`
	IDToken         string `json:"id_token,omitempty"`
	ClientInfo      string `json:"client_info,omitempty"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

// grant is everything needed to issue tokens for one successful request.
type grant struct {
	client     *clientState
	azpacr     string // "0" public, "1" secret, "2" certificate/assertion
	user       *userState
	tenantID   string
	res        *clientState // nil: OIDC scopes only → a Graph token
	scp        []string
	roles      []string
	oidc       []string
	nonce      string
	acrs       []string
	xmsCC      []string
	authTime   time.Time
	fam        *family // when set and offline_access granted, a refresh token is issued
	clientInfo bool
	sid        string // the provider session (ID tokens' "sid")
}

func (p *Provider) accessTokenLifetime() time.Duration {
	p.mu.Lock()
	d := p.atLife
	p.mu.Unlock()
	if d > 0 {
		return d
	}
	n, _ := rand.Int(rand.Reader, big.NewInt(int64(30*time.Minute/time.Second)))
	return time.Hour + time.Duration(n.Int64())*time.Second
}

// SetAccessTokenLifetime changes the lifetime of access tokens issued from
// now on (0 restores Entra's random 60–90 minutes).
func (p *Provider) SetAccessTokenLifetime(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.atLife = d
}

func (p *Provider) sign(claims any) (string, error) {
	p.mu.Lock()
	k := p.keys[0]
	p.mu.Unlock()
	return jws.Sign(k.key, jws.Header{Alg: jws.RS256, Typ: "JWT", Kid: k.kid, X5t: k.kid}, claims)
}

// issue mints the tokens of g and returns the response body.
func (p *Provider) issue(rc *requestContext, g *grant) (*tokenResponse, *oauthError) {
	now := rc.now
	life := p.accessTokenLifetime()
	res := g.res
	if res == nil {
		p.mu.Lock()
		res = p.resources[GraphResource]
		p.mu.Unlock()
	}
	aud := res.ClientID
	if res.ClientID == GraphClientID {
		aud = GraphResource
	}
	at := accessClaims{
		Aud: aud, Iss: rc.issuer(g.tenantID), Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(life).Unix(),
		Acrs: g.acrs, Azp: g.client.ClientID, Azpacr: g.azpacr, Rh: "0.dev.", Tid: g.tenantID,
		Uti: randomToken("")[:22], Ver: "2.0", XmsCC: g.xmsCC,
	}
	if g.user != nil {
		at.Name, at.Oid, at.PreferredUsername = g.user.Name, g.user.ObjectID, g.user.Username
		at.Sub = pairwiseSub(g.user.ObjectID, res.ClientID)
		at.Scp = strings.Join(g.scp, " ")
		if at.Scp == "" && g.res == nil {
			at.Scp = strings.Join(g.oidc, " ")
		}
	} else {
		at.Idtyp, at.Oid, at.Sub, at.Roles = "app", g.client.objectID, g.client.objectID, g.roles
	}
	access, err := p.sign(at)
	if err != nil {
		return nil, newErr(500, "server_error", CodeTemporarilyUnavailable, "Signing failed.")
	}
	resp := &tokenResponse{
		TokenType: "Bearer", ExpiresIn: int64(life / time.Second), ExtExpiresIn: int64(life / time.Second),
		AccessToken: access,
	}
	if life >= 2*time.Hour {
		resp.RefreshIn = int64(life / 2 / time.Second)
	}
	var scopes []string
	for _, s := range g.scp {
		scopes = append(scopes, fullScope(res, s))
	}
	if g.user == nil {
		scopes = []string{fullScope(res, ".default")}
	}
	scopes = append(scopes, g.oidc...)
	resp.Scope = strings.Join(scopes, " ")
	if g.user != nil && containsStr(g.oidc, "openid") {
		idt := idClaims{
			Aud: g.client.ClientID, Iss: rc.issuer(g.tenantID), Iat: now.Unix(), Nbf: now.Unix(),
			Exp: now.Add(p.opts.IDTokenLifetime).Unix(), Name: g.user.Name, Nonce: g.nonce,
			Oid: g.user.ObjectID, PreferredUsername: g.user.Username, Rh: "0.dev.",
			Sub: pairwiseSub(g.user.ObjectID, g.client.ClientID), Tid: g.tenantID,
			Uti: randomToken("")[:22], Ver: "2.0", Sid: g.sid,
		}
		if !g.authTime.IsZero() {
			idt.AuthTime = g.authTime.Unix()
		}
		if containsStr(g.oidc, "email") {
			idt.Email = g.user.Username
		}
		if resp.IDToken, err = p.sign(idt); err != nil {
			return nil, newErr(500, "server_error", CodeTemporarilyUnavailable, "Signing failed.")
		}
	}
	if g.user != nil && g.fam != nil && containsStr(g.oidc, "offline_access") {
		resp.RefreshToken = p.newRefreshToken(rc, g.fam)
	}
	if g.user != nil && g.clientInfo {
		ci, _ := json.Marshal(map[string]string{"uid": g.user.ObjectID, "utid": g.tenantID})
		resp.ClientInfo = b64url(ci)
	}
	return resp, nil
}

// pairwiseSub is the "sub" of a user for one application: stable, opaque and
// different per application, as Entra's is.
func pairwiseSub(oid, appID string) string {
	s := derivedGUID("sub", oid, appID)
	return strings.ReplaceAll(s, "-", "")
}

func containsStr(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// mintUser and mintApp issue tokens directly, for Server.UserToken/AppToken.
func (p *Provider) mintUser(base, username, clientID, resource string, scopes []string) (string, error) {
	p.mu.Lock()
	user, client, res := p.users[strings.ToLower(username)], p.clients[clientID], p.resources[resource]
	p.mu.Unlock()
	if user == nil || client == nil || res == nil {
		return "", errMint
	}
	rc := &requestContext{now: p.now(), base: base}
	resp, e := p.issue(rc, &grant{client: client, azpacr: "1", user: user, tenantID: user.tenant.ID, res: res, scp: scopes})
	if e != nil {
		return "", e
	}
	return resp.AccessToken, nil
}

func (p *Provider) mintApp(base, clientID, resource string, roles []string) (string, error) {
	p.mu.Lock()
	client, res := p.clients[clientID], p.resources[resource]
	p.mu.Unlock()
	if client == nil || res == nil || client.tenant == nil {
		return "", errMint
	}
	rc := &requestContext{now: p.now(), base: base}
	resp, e := p.issue(rc, &grant{client: client, azpacr: "1", tenantID: client.tenant.ID, res: res, roles: roles})
	if e != nil {
		return "", e
	}
	return resp.AccessToken, nil
}

var errMint = errors.New("identitywebtest: unknown user, client or resource")

// MintUserToken is Server.UserToken for a Provider served elsewhere: baseURL
// is the URL the provider is reached at (its issuer's prefix).
func (p *Provider) MintUserToken(baseURL, username, clientID, resource string, scopes ...string) (string, error) {
	return p.mintUser(strings.TrimRight(baseURL, "/"), username, clientID, resource, scopes)
}
