package certsource

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// ParsePEM reads a certificate chain (leaf first) and its RSA private key
// (PKCS#1 or PKCS#8, unencrypted) from PEM text.
func ParsePEM(data []byte, opts CertificateOptions) (*Certificate, error) {
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
				return nil, errors.New("certsource: a CERTIFICATE block does not parse")
			}
			chain = append(chain, c)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			rk, ok := k.(*rsa.PrivateKey)
			if err != nil || !ok {
				return nil, errors.New("certsource: the PRIVATE KEY block is not an RSA key")
			}
			key = rk
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, errors.New("certsource: the RSA PRIVATE KEY block does not parse")
			}
			key = k
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("certsource: encrypted PEM keys are not supported yet; decrypt the key or use a secret store")
		}
	}
	if len(chain) == 0 || key == nil {
		return nil, errors.New("certsource: the PEM needs a CERTIFICATE and its private key")
	}
	return NewCertificate(chain, key, opts)
}

// LoadPEMFile reads a PEM file with ParsePEM. The error never holds key
// material.
func LoadPEMFile(path string, opts CertificateOptions) (*Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("certsource: reading the certificate file: %w", err)
	}
	return ParsePEM(b, opts)
}
