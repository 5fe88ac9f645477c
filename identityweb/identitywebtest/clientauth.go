package identitywebtest

import (
	"crypto/rsa"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/identityweb/go-identityweb/internal/jws"
)

// The client assertion type of RFC 7523 private_key_jwt.
const assertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// authenticateClient identifies and authenticates the client of a token
// request. It returns the client and the "azpacr" value of its tokens.
func (p *Provider) authenticateClient(rc *requestContext, r *http.Request, form url.Values) (*clientState, string, *oauthError) {
	basicID, basicSecret, hasBasic := r.BasicAuth()
	if hasBasic {
		var err1, err2 error
		basicID, err1 = url.QueryUnescape(basicID)
		basicSecret, err2 = url.QueryUnescape(basicSecret)
		if err1 != nil || err2 != nil {
			return nil, "", invalidClient(CodeMalformedRequest, "The Authorization header is malformed.")
		}
	}
	clientID := form.Get("client_id")
	secret := form.Get("client_secret")
	assertion := form.Get("client_assertion")
	methods := 0
	for _, used := range []bool{hasBasic, secret != "", assertion != ""} {
		if used {
			methods++
		}
	}
	if methods > 1 {
		return nil, "", invalidRequest(CodeMalformedRequest, "Only one client authentication method may be used.")
	}
	if hasBasic {
		if clientID != "" && clientID != basicID {
			return nil, "", invalidRequest(CodeMalformedRequest, "client_id in the body does not match the Authorization header.")
		}
		clientID, secret = basicID, basicSecret
	}
	var tok *jws.Token
	if assertion != "" {
		if form.Get("client_assertion_type") != assertionTypeJWTBearer {
			return nil, "", invalidRequest(CodeInvalidRequest, "The request body must contain the following parameter: 'client_assertion_type' with value '%s'.", assertionTypeJWTBearer)
		}
		var err error
		if tok, err = jws.Parse(assertion, jws.RS256, jws.PS256); err != nil {
			return nil, "", invalidClient(CodeInvalidJWT, "JWT token is invalid or malformed (client_assertion).")
		}
		if clientID == "" {
			var c struct {
				Sub string `json:"sub"`
			}
			if tok.Claims(&c) != nil {
				return nil, "", invalidClient(CodeInvalidJWT, "JWT token is invalid or malformed (client_assertion).")
			}
			clientID = c.Sub
		}
	}
	rc.record.ClientID = clientID
	if clientID == "" {
		return nil, "", invalidRequest(CodeInvalidRequest, "The request body must contain the following parameter: 'client_id'.")
	}
	p.mu.Lock()
	c := p.clients[clientID]
	p.mu.Unlock()
	if c == nil {
		return nil, "", newErr(http.StatusBadRequest, "unauthorized_client", CodeUnknownClient, "Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", truncate(clientID, 64), truncate(rc.tenantSeg, 64))
	}
	switch {
	case c.PublicClient && (secret != "" || assertion != ""):
		return nil, "", invalidClient(CodePublicClientCredential, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.")
	case c.PublicClient:
		rc.record.Credential = "none"
		return c, "0", nil
	case tok != nil:
		if e := p.checkAssertion(rc, c, tok); e != nil {
			return nil, "", e
		}
		if cc := p.findCertificate(c, tok.Header); cc != nil {
			rc.record.Credential = "certificate sha256:" + hex.EncodeToString(cc.sha256[:])
		}
		return c, "2", nil
	case secret != "":
		if e := p.checkSecret(rc, c, secret); e != nil {
			return nil, "", e
		}
		rc.record.Credential = "secret"
		return c, "1", nil
	default:
		return nil, "", invalidClient(CodeCredentialRequired, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
}

func (p *Provider) checkSecret(rc *requestContext, c *clientState, secret string) *oauthError {
	p.mu.Lock()
	secrets := c.Secrets
	p.mu.Unlock()
	expired := false
	for _, s := range secrets {
		if subtle.ConstantTimeCompare([]byte(s.Value), []byte(secret)) == 1 {
			if !s.ExpiresAt.IsZero() && rc.now.After(s.ExpiresAt) {
				expired = true
				continue
			}
			return nil
		}
	}
	if expired {
		return invalidClient(CodeExpiredSecret, "The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys for your app.", c.ClientID)
	}
	return invalidClient(CodeBadSecret, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", c.ClientID)
}

// assertionClaims are the claims of a private_key_jwt client assertion.
type assertionClaims struct {
	Aud audience `json:"aud"`
	Iss string   `json:"iss"`
	Sub string   `json:"sub"`
	Jti string   `json:"jti"`
	Exp *int64   `json:"exp"`
	Nbf *int64   `json:"nbf"`
	Iat *int64   `json:"iat"`
}

func (p *Provider) checkAssertion(rc *requestContext, c *clientState, tok *jws.Token) *oauthError {
	var probe struct {
		Iss string `json:"iss"`
	}
	tok.Claims(&probe)
	if strings.Contains(probe.Iss, "://") { // another provider's token: a federated credential
		return p.checkFederated(rc, c, tok)
	}
	cert := p.findCertificate(c, tok.Header)
	if cert == nil {
		return invalidClient(CodeUnknownCertificate, "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found.] Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'.", c.ClientID)
	}
	if err := tok.Verify(cert.cert.PublicKey.(*rsa.PublicKey)); err != nil {
		return invalidClient(CodeUnknownCertificate, "Client assertion contains an invalid signature. [Reason - The key was not found.] app Id '%s'.", c.ClientID)
	}
	var cl assertionClaims
	if tok.Claims(&cl) != nil || cl.Exp == nil {
		return invalidClient(CodeInvalidJWT, "JWT token is invalid or malformed (client_assertion): claims could not be read or 'exp' is missing.")
	}
	if cl.Iss != c.ClientID || cl.Sub != c.ClientID {
		return invalidClient(CodeAssertionIssuer, "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .")
	}
	if !p.assertionAudienceOK(rc, cl.Aud) {
		return invalidClient(CodeInvalidJWT, "JWT token is invalid: the audience of the client assertion must be the token endpoint, '%s'.", rc.tokenEndpoint())
	}
	skew := p.opts.ClockSkew
	exp := time.Unix(*cl.Exp, 0)
	if !rc.now.Before(exp.Add(skew)) || exp.After(rc.now.Add(10*time.Minute+skew)) ||
		(cl.Nbf != nil && time.Unix(*cl.Nbf, 0).After(rc.now.Add(skew))) ||
		(cl.Iat != nil && time.Unix(*cl.Iat, 0).After(rc.now.Add(skew))) {
		return invalidClient(CodeAssertionTimeRange, "Client assertion is not within its valid time range. Current time: %s, assertion valid to: %s; assertions may live at most 10 minutes.", rc.now.UTC().Format(time.RFC3339), exp.UTC().Format(time.RFC3339))
	}
	if p.opts.RejectAssertionReplay {
		if cl.Jti == "" {
			return invalidClient(CodeInvalidJWT, "JWT token is invalid: the client assertion has no 'jti'.")
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		key := c.ClientID + "|" + cl.Jti
		if _, seen := p.jtis[key]; seen {
			return invalidClient(CodeAssertionReplayed, "The client assertion with this 'jti' has already been used.")
		}
		p.jtis[key] = exp.Add(skew)
	}
	return nil
}

// assertionAudienceOK accepts the token endpoint of this request under the
// tenant as written, under the tenant id, or the v1 endpoint, as Entra does.
func (p *Provider) assertionAudienceOK(rc *requestContext, aud audience) bool {
	ok := map[string]bool{rc.tokenEndpoint(): true}
	for _, seg := range []string{rc.tenantSeg, tenantIDOf(rc)} {
		if seg != "" {
			ok[rc.base+"/"+seg+"/oauth2/v2.0/token"] = true
			ok[rc.base+"/"+seg+"/oauth2/token"] = true
		}
	}
	for _, a := range aud {
		if ok[a] {
			return true
		}
	}
	return false
}

func tenantIDOf(rc *requestContext) string {
	if rc.tenant != nil {
		return rc.tenant.ID
	}
	return ""
}

// findCertificate picks the registered certificate the header names: by
// x5t#S256, x5t, or kid (a SHA-1 thumbprint in hex, or an x5t value).
// Thumbprints are accepted in base64url or standard base64, as Entra does
// (MSAL sends standard base64 with padding).
func (p *Provider) findCertificate(c *clientState, h jws.Header) *clientCert {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, cc := range c.certs {
		if cc.revoked { // read under p.mu: RevokeCertificate may run at any time
			continue
		}
		switch {
		case h.X5tS256 != "":
			if thumbEqual(h.X5tS256, cc.sha256[:]) {
				return cc
			}
		case h.X5t != "":
			if thumbEqual(h.X5t, cc.sha1[:]) {
				return cc
			}
		case h.Kid != "":
			if strings.EqualFold(h.Kid, cc.sha1Hex) || thumbEqual(h.Kid, cc.sha1[:]) || thumbEqual(h.Kid, cc.sha256[:]) {
				return cc
			}
		}
	}
	return nil
}

// thumbEqual compares a thumbprint header value, in any base64 alphabet
// with or without padding, to the raw digest.
func thumbEqual(v string, digest []byte) bool {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(v); err == nil {
			return subtle.ConstantTimeCompare(b, digest) == 1
		}
	}
	return false
}

// AddCertificate registers a certificate for a client's assertions.
func (p *Provider) AddCertificate(clientID string, cert *Certificate) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.clients[clientID]
	if c == nil {
		return false
	}
	c.certs = append(c.certs, newClientCert(cert.Cert))
	return true
}

// RevokeCertificate makes assertions signed with cert fail with
// AADSTS700027, as removing it from the app registration would.
func (p *Provider) RevokeCertificate(clientID string, cert *Certificate) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.clients[clientID]
	if c == nil {
		return false
	}
	found := false
	for _, cc := range c.certs {
		if cc.cert.Equal(cert.Cert) {
			cc.revoked, found = true, true
		}
	}
	return found
}

// SetClientSecrets replaces a client's secrets (for expiry and rotation tests).
func (p *Provider) SetClientSecrets(clientID string, secrets ...Secret) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.clients[clientID]
	if c == nil {
		return false
	}
	c.Secrets = append([]Secret(nil), secrets...)
	return true
}
