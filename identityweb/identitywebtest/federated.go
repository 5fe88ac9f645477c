package identitywebtest

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/identityweb/go-identityweb/internal/jws"
)

const tokenExchangeAudience = "api://AzureADTokenExchange"

// checkFederated accepts a client assertion issued by a trusted external
// provider (managed identity, workload identity): a federated credential of
// the client must name its issuer and subject, the audience must match,
// the signature must verify with the issuer's published keys, and the
// token must be within its lifetime.
func (p *Provider) checkFederated(rc *requestContext, c *clientState, tok *jws.Token) *oauthError {
	var cl struct {
		Iss string   `json:"iss"`
		Sub string   `json:"sub"`
		Aud audience `json:"aud"`
		Exp int64    `json:"exp"`
		Nbf int64    `json:"nbf"`
	}
	if tok.Claims(&cl) != nil {
		return invalidClient(CodeInvalidJWT, "JWT token is invalid or malformed (client_assertion).")
	}
	var fc *FederatedCredential
	p.mu.Lock()
	for i := range c.FederatedCredentials {
		f := &c.FederatedCredentials[i]
		if strings.TrimRight(f.Issuer, "/") == strings.TrimRight(cl.Iss, "/") && f.Subject == cl.Sub {
			fc = f
		}
	}
	p.mu.Unlock()
	if fc == nil {
		return invalidClient(CodeAssertionIssuer, "No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'.", truncate(cl.Iss, 128), truncate(cl.Sub, 128))
	}
	aud := fc.Audience
	if aud == "" {
		aud = tokenExchangeAudience
	}
	if !containsStr(cl.Aud, aud) {
		return invalidClient(CodeInvalidJWT, "The audience of the federated assertion must be '%s'.", aud)
	}
	key, err := p.issuerKey(rc, cl.Iss, tok.Header.Kid)
	if err != nil || tok.Verify(key) != nil {
		return invalidClient(CodeUnknownCertificate, "The federated assertion's signature could not be verified with the issuer's keys.")
	}
	if cl.Exp == 0 || !rc.now.Before(time.Unix(cl.Exp, 0).Add(p.opts.ClockSkew)) || (cl.Nbf != 0 && time.Unix(cl.Nbf, 0).After(rc.now.Add(p.opts.ClockSkew))) {
		return invalidClient(CodeAssertionTimeRange, "The federated assertion is not within its valid time range.")
	}
	rc.record.Credential = "federated " + truncate(cl.Iss, 128)
	return nil
}

// issuerKey fetches (each time: federated issuers are few and test-sized)
// the issuer's JWKS through its discovery document.
func (p *Provider) issuerKey(rc *requestContext, issuer, kid string) (*rsa.PublicKey, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	get := func(u string, v any) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := p.opts.HTTPClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
	}
	var meta struct {
		JWKS string `json:"jwks_uri"`
	}
	if err := get(strings.TrimRight(issuer, "/")+"/.well-known/openid-configuration", &meta); err != nil || meta.JWKS == "" {
		return nil, errMint
	}
	var set struct {
		Keys []struct{ Kid, N, E string } `json:"keys"`
	}
	if err := get(meta.JWKS, &set); err != nil {
		return nil, err
	}
	for _, k := range set.Keys {
		if k.Kid != kid {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(e) > 4 {
			break
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
	}
	return nil, errMint
}

// AddFederatedCredential trusts fc for a client's assertions.
func (p *Provider) AddFederatedCredential(clientID string, fc FederatedCredential) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.clients[clientID]
	if c == nil {
		return false
	}
	c.FederatedCredentials = append(c.FederatedCredentials, fc)
	return true
}
