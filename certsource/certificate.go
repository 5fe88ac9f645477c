package certsource

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/identityweb/go-identityweb/internal/guid"
	"github.com/identityweb/go-identityweb/internal/jws"
)

// CertificateOptions shape the client assertions a Certificate signs. The
// zero value signs what Entra ID expects.
type CertificateOptions struct {
	// RS256 signs with RS256 and names the certificate by its SHA-1 "x5t"
	// (for AD FS and other providers without PS256). Default: PS256 with
	// "x5t#S256", as Entra recommends.
	RS256 bool
	// SendX5C includes the certificate chain ("x5c"), for subject name and
	// issuer (SN/I) authentication.
	SendX5C bool
	// AssertionLifetime is the lifetime of a signed assertion. Default and
	// maximum: 10 minutes.
	AssertionLifetime time.Duration
	// ReuseMargin: a signed assertion is reused until it has less than this
	// left to live. Default: 5 minutes (an RSA-2048 signature costs ~2 ms).
	ReuseMargin time.Duration
}

// Certificate signs private_key_jwt client assertions with an RSA key and
// its certificate held in memory.
type Certificate struct {
	chain      []*x509.Certificate
	key        *rsa.PrivateKey
	opts       CertificateOptions
	thumbprint string // hex SHA-256, for logs
	header     jws.Header

	mu    sync.Mutex
	cache map[assertionKey]cachedAssertion
}

type assertionKey struct{ clientID, audience string }

type cachedAssertion struct {
	token   string
	expires time.Time
}

// NewCertificate returns a credential for the certificate chain (leaf first)
// and its RSA private key.
func NewCertificate(chain []*x509.Certificate, key *rsa.PrivateKey, opts CertificateOptions) (*Certificate, error) {
	if len(chain) == 0 || key == nil {
		return nil, errors.New("certsource: a certificate and its private key are required")
	}
	pub, ok := chain[0].PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("certsource: the private key does not match the certificate")
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
	x5t, x5tS256 := jws.Thumbprints(chain[0].Raw)
	h := jws.Header{Alg: jws.PS256, Typ: "JWT", X5tS256: x5tS256}
	if opts.RS256 {
		h = jws.Header{Alg: jws.RS256, Typ: "JWT", X5t: x5t}
	}
	if opts.SendX5C {
		for _, c := range chain {
			h.X5c = append(h.X5c, base64.StdEncoding.EncodeToString(c.Raw))
		}
	}
	sum := sha256.Sum256(chain[0].Raw)
	return &Certificate{chain: chain, key: key, opts: opts, header: h,
		thumbprint: hex.EncodeToString(sum[:]), cache: map[assertionKey]cachedAssertion{}}, nil
}

// ClientAuth returns a signed client assertion, reused while it has more
// than ReuseMargin to live.
func (c *Certificate) ClientAuth(_ context.Context, req AuthRequest) (AuthParams, error) {
	k := assertionKey{req.ClientID, req.TokenEndpoint}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.cache[k]; ok && a.expires.Sub(req.Now) > c.opts.ReuseMargin {
		return AuthParams{ClientAssertion: a.token}, nil
	}
	exp := req.Now.Add(c.opts.AssertionLifetime)
	claims := struct {
		Aud string `json:"aud"`
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Jti string `json:"jti"`
		Nbf int64  `json:"nbf"`
		Iat int64  `json:"iat"`
		Exp int64  `json:"exp"`
	}{req.TokenEndpoint, req.ClientID, req.ClientID, guid.New(), req.Now.Unix(), req.Now.Unix(), exp.Unix()}
	tok, err := jws.Sign(c.key, c.header, claims)
	if err != nil {
		return AuthParams{}, fmt.Errorf("certsource: signing the client assertion: %w", err)
	}
	if len(c.cache) > 64 { // one per (client, endpoint); bound it anyway
		clear(c.cache)
	}
	c.cache[k] = cachedAssertion{token: tok, expires: exp}
	return AuthParams{ClientAssertion: tok}, nil
}

// Reload drops the cached assertions; an in-memory certificate has no
// source to reload from.
func (c *Certificate) Reload(context.Context) error {
	c.mu.Lock()
	clear(c.cache)
	c.mu.Unlock()
	return nil
}

// Description names the certificate by its SHA-256 thumbprint.
func (c *Certificate) Description() string { return "certificate sha256:" + c.thumbprint }

// NotAfter returns the leaf certificate's expiry.
func (c *Certificate) NotAfter() time.Time { return c.chain[0].NotAfter }
