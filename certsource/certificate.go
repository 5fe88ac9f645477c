package certsource

import (
	"context"
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/identityweb/go-identityweb/internal/guid"
)

// CertificateOptions shape the client assertions a Certificate signs. The
// zero value signs what Entra ID expects.
type CertificateOptions struct {
	// RS256 prefers RS256 for an RSA key and names the certificate by its
	// SHA-1 "x5t" (for AD FS and other providers without PS256). Default:
	// PS256 with "x5t#S256", as Entra recommends. EC keys sign ES256 either
	// way.
	RS256 bool
	// SendX5C includes the certificate chain ("x5c"), for subject name and
	// issuer (SN/I) authentication. A credential without a certificate
	// (NewKey) has no chain to send.
	SendX5C bool
	// AssertionLifetime is the lifetime of a signed assertion. Default and
	// maximum: 10 minutes.
	AssertionLifetime time.Duration
	// ReuseMargin: a signed assertion is reused until it has less than this
	// left to live, unless AuthRequest.FreshAssertion is set. Default: 5
	// minutes (an RSA-2048 signature costs ~2 ms).
	ReuseMargin time.Duration
}

// Certificate signs private_key_jwt client assertions (RFC 7523) with a
// private key held in memory — RSA (PS256 or RS256) or EC P-256 (ES256) —
// and, usually, its certificate. Every assertion's header carries "kid", the
// key's RFC 7638 JWK thumbprint, which is what providers that register a
// bare JWK match on; with a certificate it also carries "x5t#S256" (or "x5t"
// with CertificateOptions.RS256), which Entra ID matches on, and "x5c" on
// request.
type Certificate struct {
	chain      []*x509.Certificate // empty for a bare key (NewKey)
	key        crypto.Signer
	kind       keyKind
	opts       CertificateOptions
	kid        string // RFC 7638 thumbprint, base64url
	thumbprint string // hex SHA-256 of the certificate (of the JWK for a bare key), for logs
	x5t        string // header value naming the certificate, or ""
	x5tName    jose.HeaderKey
	x5c        []string

	mu    sync.Mutex
	cache map[assertionKey]cachedAssertion
}

type assertionKey struct{ clientID, audience, alg string }

type cachedAssertion struct {
	token   string
	expires time.Time
}

// NewCertificate returns a credential for the certificate chain (leaf first)
// and its private key: an *rsa.PrivateKey (2048 bits or more) or an
// *ecdsa.PrivateKey on P-256.
func NewCertificate(chain []*x509.Certificate, key crypto.Signer, opts CertificateOptions) (*Certificate, error) {
	if len(chain) == 0 || chain[0] == nil || key == nil {
		return nil, errors.New("certsource: a certificate and its private key are required")
	}
	pub, ok := chain[0].PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return nil, errors.New("certsource: the private key does not match the certificate")
	}
	c, err := newSigner(key, opts)
	if err != nil {
		return nil, err
	}
	c.chain = chain
	leaf := chain[0].Raw
	s1, s256 := sha1.Sum(leaf), sha256.Sum256(leaf)
	c.x5tName, c.x5t = "x5t#S256", base64.RawURLEncoding.EncodeToString(s256[:])
	if opts.RS256 {
		c.x5tName, c.x5t = "x5t", base64.RawURLEncoding.EncodeToString(s1[:])
	}
	if opts.SendX5C {
		for _, cert := range chain {
			c.x5c = append(c.x5c, base64.StdEncoding.EncodeToString(cert.Raw))
		}
	}
	c.thumbprint = hex.EncodeToString(s256[:])
	return c, nil
}

// NewKey returns a credential for a private key without a certificate, for
// providers where the client registers its public JWK (see PublicJWK)
// rather than a certificate: its assertions name the key by "kid" only.
// Entra ID needs a certificate; use NewCertificate there.
func NewKey(key crypto.Signer, opts CertificateOptions) (*Certificate, error) {
	c, err := newSigner(key, opts)
	if err != nil {
		return nil, err
	}
	tp, _ := base64.RawURLEncoding.DecodeString(c.kid)
	c.thumbprint = hex.EncodeToString(tp)
	return c, nil
}

func newSigner(key crypto.Signer, opts CertificateOptions) (*Certificate, error) {
	kind, err := kindOf(key, opts.RS256)
	if err != nil {
		return nil, err
	}
	kid, err := jwkThumbprint(key.Public())
	if err != nil {
		return nil, err
	}
	if opts.AssertionLifetime <= 0 || opts.AssertionLifetime > 10*time.Minute {
		opts.AssertionLifetime = 10 * time.Minute
	}
	if opts.ReuseMargin <= 0 {
		opts.ReuseMargin = 5 * time.Minute
	}
	if opts.ReuseMargin >= opts.AssertionLifetime {
		opts.ReuseMargin = opts.AssertionLifetime / 2
	}
	return &Certificate{key: key, kind: kind, opts: opts, kid: kid, cache: map[assertionKey]cachedAssertion{}}, nil
}

// jwkThumbprint returns the RFC 7638 thumbprint of a public key: SHA-256
// over the JWK's required members, base64url without padding.
func jwkThumbprint(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("certsource: the key's JWK thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// ClientAuth returns a signed client assertion with the algorithm chosen
// from req.SigningAlgs. Unless req.FreshAssertion is set, an assertion is
// reused while it has more than ReuseMargin to live.
func (c *Certificate) ClientAuth(_ context.Context, req AuthRequest) (AuthParams, error) {
	alg, err := c.kind.choose(req.SigningAlgs)
	if err != nil {
		return AuthParams{}, err
	}
	k := assertionKey{req.ClientID, req.TokenEndpoint, alg}
	if req.FreshAssertion {
		tok, _, err := c.sign(req, alg)
		return AuthParams{ClientAssertion: tok, AssertionAlg: alg}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.cache[k]; ok && a.expires.Sub(req.Now) > c.opts.ReuseMargin {
		return AuthParams{ClientAssertion: a.token, AssertionAlg: alg}, nil
	}
	tok, exp, err := c.sign(req, alg)
	if err != nil {
		return AuthParams{}, err
	}
	if len(c.cache) > 64 { // one per (client, endpoint, alg); bound it anyway
		clear(c.cache)
	}
	c.cache[k] = cachedAssertion{token: tok, expires: exp}
	return AuthParams{ClientAssertion: tok, AssertionAlg: alg}, nil
}

// assertionClaims are an RFC 7523 client assertion's claims.
type assertionClaims struct {
	Aud string `json:"aud"`
	Iss string `json:"iss"`
	Sub string `json:"sub"`
	Jti string `json:"jti"`
	Nbf int64  `json:"nbf"`
	Iat int64  `json:"iat"`
	Exp int64  `json:"exp"`
}

// sign signs a new assertion for req with alg, through go-jose.
func (c *Certificate) sign(req AuthRequest, alg string) (string, time.Time, error) {
	exp := req.Now.Add(c.opts.AssertionLifetime)
	payload, err := json.Marshal(assertionClaims{Aud: req.TokenEndpoint, Iss: req.ClientID, Sub: req.ClientID,
		Jti: guid.New(), Nbf: req.Now.Unix(), Iat: req.Now.Unix(), Exp: exp.Unix()})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("certsource: encoding the client assertion: %w", err)
	}
	so := (&jose.SignerOptions{}).WithType("JWT")
	if c.x5t != "" {
		so = so.WithHeader(c.x5tName, c.x5t)
	}
	if len(c.x5c) > 0 {
		so = so.WithHeader("x5c", c.x5c)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg),
		Key: jose.JSONWebKey{Key: c.key, KeyID: c.kid}}, so)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("certsource: signing the client assertion: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("certsource: signing the client assertion: %w", err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("certsource: signing the client assertion: %w", err)
	}
	return tok, exp, nil
}

// Reload drops the cached assertions; an in-memory certificate has no
// source to reload from.
func (c *Certificate) Reload(context.Context) error {
	c.mu.Lock()
	clear(c.cache)
	c.mu.Unlock()
	return nil
}

// Description names the certificate by its SHA-256 thumbprint (a bare key by
// its JWK thumbprint, in hex).
func (c *Certificate) Description() string {
	if len(c.chain) == 0 {
		return "key jwk-sha256:" + c.thumbprint
	}
	return "certificate sha256:" + c.thumbprint
}

// NotAfter returns the leaf certificate's expiry; zero for a bare key.
func (c *Certificate) NotAfter() time.Time {
	if len(c.chain) == 0 {
		return time.Time{}
	}
	return c.chain[0].NotAfter
}

// KeyID returns the "kid" of the assertions: the key's RFC 7638 JWK
// thumbprint (SHA-256, base64url without padding).
func (c *Certificate) KeyID() string { return c.kid }

// PublicJWK returns the public key as a JWK (RFC 7517) to register at a
// provider that takes the client's keys as a JWK Set: kty, its key
// parameters, "kid" (KeyID) and "use": "sig". It holds no certificate and no
// "alg", so one registration serves PS256 and RS256 alike.
func (c *Certificate) PublicJWK() json.RawMessage {
	b, err := jose.JSONWebKey{Key: c.key.Public(), KeyID: c.kid, Use: "sig"}.MarshalJSON()
	if err != nil { // a key kindOf accepted always marshals
		return nil
	}
	return b
}
