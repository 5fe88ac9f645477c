package identitywebtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/identityweb/go-identityweb/internal/jws"
)

// signingKey is one of the provider's token signing keys, published in the
// JWKS with a self-signed certificate as Entra publishes its keys.
type signingKey struct {
	kid  string // also the x5t: base64url SHA-1 of the certificate
	key  *rsa.PrivateKey
	cert []byte // DER
}

func newSigningKey(key *rsa.PrivateKey) (*signingKey, error) {
	der, err := selfSign(key, "identitywebtest token signing", nil, time.Now().Add(-time.Hour), 5*365*24*time.Hour)
	if err != nil {
		return nil, err
	}
	x5t, _ := jws.Thumbprints(der)
	return &signingKey{kid: x5t, key: key, cert: der}, nil
}

// The first signing key is shared by every provider of a process: RSA key
// generation costs tens of milliseconds and tests start many providers.
// Issuers differ per provider, so a token of one never passes for another's.
var (
	sharedKeyOnce sync.Once
	sharedKey     *rsa.PrivateKey
	sharedKeyErr  error
)

func initialSigningKey() (*signingKey, error) {
	sharedKeyOnce.Do(func() { sharedKey, sharedKeyErr = rsa.GenerateKey(rand.Reader, 2048) })
	if sharedKeyErr != nil {
		return nil, sharedKeyErr
	}
	return newSigningKey(sharedKey)
}

// jwk is a JSON Web Key as Entra's discovery/v2.0/keys returns it.
type jwk struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	Alg    string   `json:"alg,omitempty"`
	Kid    string   `json:"kid"`
	X5t    string   `json:"x5t"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X5c    []string `json:"x5c"`
	Issuer string   `json:"issuer,omitempty"`
}

func (k *signingKey) jwk(issuer string) jwk {
	pub := k.key.PublicKey
	return jwk{
		Kty: "RSA", Use: "sig", Kid: k.kid, X5t: k.kid,
		N:      base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		E:      base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		X5c:    []string{base64.StdEncoding.EncodeToString(k.cert)},
		Issuer: issuer,
	}
}

// selfSign makes a self-signed certificate for key. hosts, when given, become
// the certificate's DNS names / IP addresses and it can serve TLS.
func selfSign(key any, cn string, hosts []string, notBefore time.Time, lifetime time.Duration) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"identityweb development"}},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(lifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	if len(hosts) > 0 {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.IsCA = true
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	}
	var pub any
	switch k := key.(type) {
	case *rsa.PrivateKey:
		pub = &k.PublicKey
	case *ecdsa.PrivateKey:
		pub = &k.PublicKey
	default:
		return nil, errors.New("identitywebtest: unsupported key type")
	}
	return x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
}

// Certificate is a certificate and its private key, as a client would hold
// them to sign private_key_jwt assertions.
type Certificate struct {
	Cert *x509.Certificate // the certificate, to register with a client
	Key  *rsa.PrivateKey   // its private key, to sign assertions
}

// CertificatePEM returns the certificate in PEM, the form Client.Certificates takes.
func (c *Certificate) CertificatePEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw}))
}

// KeyPEM returns the private key as PKCS#8 PEM.
func (c *Certificate) KeyPEM() string {
	der, _ := x509.MarshalPKCS8PrivateKey(c.Key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// NewCertificate makes a fresh RSA-2048 client certificate valid from now-1h
// for lifetime (default one year).
func NewCertificate(cn string, lifetime time.Duration) (*Certificate, error) {
	if lifetime <= 0 {
		lifetime = 365 * 24 * time.Hour
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := selfSign(key, cn, nil, time.Now().Add(-time.Hour), lifetime)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Certificate{Cert: cert, Key: key}, nil
}

// TLSCertificatePEM makes a self-signed ECDSA P-256 serving certificate for
// hosts (for example "localhost", "127.0.0.1", "::1") and returns it and its
// key in PEM. devidp uses it for HTTPS and writes the certificate out so that
// clients can trust it.
func TLSCertificatePEM(hosts ...string) (certPEM, keyPEM []byte, err error) {
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1", "::1"}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := selfSign(key, "identityweb development identity provider", hosts, time.Now().Add(-time.Hour), 365*24*time.Hour)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

func parseCertificatePEM(s string) (*x509.Certificate, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("not a PEM CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate: %w", err)
	}
	if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
		return nil, fmt.Errorf("certificate key must be RSA")
	}
	return cert, nil
}
