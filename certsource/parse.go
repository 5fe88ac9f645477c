package certsource

import (
	"bytes"
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
// (CERTIFICATE blocks, then an RSA key as PKCS#1, PKCS#8, legacy encrypted
// PEM or encrypted PKCS#8 with password) or PKCS#12/PFX (with password).
// Entra ID needs RSA keys for client assertions; other key types are
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
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, &parseError{"the PFX key is not RSA (Entra client assertions need RSA)"}
	}
	return newChecked(append([]*x509.Certificate{leaf}, cas...), rk, opts)
}

func parsePEM(data []byte, password string, opts CertificateOptions) (*Certificate, error) {
	var chain []*x509.Certificate
	var key *rsa.PrivateKey
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

func pemKey(block *pem.Block, password string) (*rsa.PrivateKey, error) {
	der := block.Bytes
	//lint:ignore SA1019 legacy encrypted PEM keys are still deployed; reading them is supported
	if x509.IsEncryptedPEMBlock(block) {
		if password == "" {
			return nil, &parseError{"the PEM key is encrypted and no password was given"}
		}
		//lint:ignore SA1019 see above
		d, err := x509.DecryptPEMBlock(block, []byte(password))
		if err != nil {
			return nil, &parseError{"the PEM key password is wrong"}
		}
		der = d
	}
	switch block.Type {
	case "EC PRIVATE KEY":
		return nil, &parseError{"the key is an EC key (Entra client assertions need RSA)"}
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(der)
		if err != nil {
			return nil, &parseError{"the RSA PRIVATE KEY block does not parse"}
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
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, &parseError{"the key is not RSA (Entra client assertions need RSA)"}
		}
		return rk, nil
	default:
		k, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, &parseError{"the PRIVATE KEY block does not parse"}
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, &parseError{"the key is not RSA (Entra client assertions need RSA)"}
		}
		return rk, nil
	}
}

func newChecked(chain []*x509.Certificate, key *rsa.PrivateKey, opts CertificateOptions) (*Certificate, error) {
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
