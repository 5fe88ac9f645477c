package certsource

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/youmark/pkcs8"
	"software.sslmate.com/src/go-pkcs12"
)

// ErrBadCertificate is matched by every error about certificate material:
// corrupt or truncated data, a wrong password, a key that does not match.
var ErrBadCertificate = errors.New("certsource: bad certificate material")

type parseError struct{ msg string }

func (e *parseError) Error() string   { return "certsource: " + e.msg }
func (e *parseError) Is(t error) bool { return t == ErrBadCertificate }

// ParseCertificate reads a certificate chain and its private key from PEM
// (CERTIFICATE blocks, then the key: RSA as PKCS#1, EC as SEC 1 "EC PRIVATE
// KEY", either as PKCS#8, legacy encrypted PEM or encrypted PKCS#8 with
// password) or PKCS#12/PFX (with password). Keys are RSA (2048 bits or more;
// PS256 or RS256) or EC on P-256 (ES256; not accepted by Entra ID, which
// needs RSA, but by standards providers); other key types and curves are
// refused with a clear error.
func ParseCertificate(data []byte, password string, opts CertificateOptions) (*Certificate, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &parseError{"the certificate data is empty"}
	}
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		return parsePEM(data, password, opts)
	}
	key, leaf, cas, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return nil, &parseError{"the PFX password is wrong"}
		}
		return nil, &parseError{"the data is neither PEM nor a readable PFX"}
	}
	sk, err := supportedKey(key, "PFX key")
	if err != nil {
		return nil, err
	}
	return newChecked(append([]*x509.Certificate{leaf}, cas...), sk, opts)
}

func parsePEM(data []byte, password string, opts CertificateOptions) (*Certificate, error) {
	var chain []*x509.Certificate
	var key crypto.Signer
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, &parseError{"a CERTIFICATE block does not parse"}
			}
			chain = append(chain, c)
		case "PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "EC PRIVATE KEY":
			k, err := pemKey(block, password)
			if err != nil {
				return nil, err
			}
			key = k
		}
	}
	if len(chain) == 0 {
		return nil, &parseError{"the PEM holds no CERTIFICATE block"}
	}
	if key == nil {
		return nil, &parseError{"the PEM holds no private key"}
	}
	return newChecked(chain, key, opts)
}

// errPEMPassword: a legacy encrypted PEM key did not decrypt, or decrypted
// into something that does not parse — a wrong password passes the padding
// check about one time in 256 and yields garbage — so either the password
// is wrong or the key is corrupt; the words name both.
var errPEMPassword = &parseError{"the PEM key password is wrong or the key is corrupt"}

func pemKey(block *pem.Block, password string) (crypto.Signer, error) {
	der := block.Bytes
	decrypted := false
	//lint:ignore SA1019 legacy encrypted PEM keys are still deployed; reading them is supported
	if x509.IsEncryptedPEMBlock(block) {
		if password == "" {
			return nil, &parseError{"the PEM key is encrypted and no password was given"}
		}
		//lint:ignore SA1019 see above
		d, err := x509.DecryptPEMBlock(block, []byte(password))
		if err != nil {
			return nil, errPEMPassword
		}
		der, decrypted = d, true
	}
	switch block.Type {
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(der)
		if err != nil {
			return nil, notParsed(decrypted, "the EC PRIVATE KEY block does not parse")
		}
		return supportedKey(k, "EC key")
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(der)
		if err != nil {
			return nil, notParsed(decrypted, "the RSA PRIVATE KEY block does not parse")
		}
		return k, nil
	case "ENCRYPTED PRIVATE KEY":
		if password == "" {
			return nil, &parseError{"the PKCS#8 key is encrypted and no password was given"}
		}
		k, err := pkcs8.ParsePKCS8PrivateKey(der, []byte(password))
		if err != nil {
			return nil, &parseError{"the PKCS#8 key password is wrong or the key is corrupt"}
		}
		return supportedKey(k, "PKCS#8 key")
	default:
		k, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, notParsed(decrypted, "the PRIVATE KEY block does not parse")
		}
		return supportedKey(k, "PKCS#8 key")
	}
}

// notParsed is the error for a key block that does not parse: after a
// decryption with a password, errPEMPassword.
func notParsed(decrypted bool, msg string) error {
	if decrypted {
		return errPEMPassword
	}
	return &parseError{msg}
}

// supportedKey returns key as a signer when it is RSA or EC P-256.
func supportedKey(key any, what string) (crypto.Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, &parseError{fmt.Sprintf("the %s is an EC key on %s: only P-256 (ES256) is supported", what, k.Curve.Params().Name)}
		}
		return k, nil
	case ed25519.PrivateKey:
		return nil, &parseError{"the " + what + " is Ed25519: only RSA and EC P-256 keys are supported"}
	default:
		return nil, &parseError{"the " + what + " is neither RSA nor EC P-256"}
	}
}

func newChecked(chain []*x509.Certificate, key crypto.Signer, opts CertificateOptions) (*Certificate, error) {
	if _, err := kindOf(key, opts.RS256); err != nil {
		return nil, err // a parseError that says what is wrong with the key
	}
	c, err := NewCertificate(chain, key, opts)
	if err != nil {
		return nil, &parseError{"the private key does not match the certificate"}
	}
	return c, nil
}

// ParsePEM reads PEM text without a password; see ParseCertificate.
func ParsePEM(data []byte, opts CertificateOptions) (*Certificate, error) {
	return ParseCertificate(data, "", opts)
}

// LoadPEMFile reads a PEM or PFX file once (no reloading; see NewFile).
func LoadPEMFile(path string, opts CertificateOptions) (*Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("certsource: reading the certificate file: %w", err)
	}
	return ParseCertificate(b, "", opts)
}
