// Package jws signs and verifies compact JSON Web Signatures (RFC 7515) with
// the RSA algorithms this project uses: RS256 (RSASSA-PKCS1-v1_5 with
// SHA-256) and PS256 (RSASSA-PSS with SHA-256).
//
// It is deliberately small and is not to grow: the development identity
// provider (identitywebtest) mints and checks its tokens with it, and
// internal/jwks verifies RS256/PS256 JWTs with it. Client assertions are
// signed by certsource through go-jose (github.com/go-jose/go-jose/v4), and
// new JOSE work — other algorithms, RFC 7638 thumbprints, DPoP proofs,
// logout tokens — goes through go-jose too: security reviewers trust a kept
// JOSE library over our own. Parsing never panics on malformed input; every
// failure is an error that names what was wrong without echoing the token.
package jws

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Algorithm names a JWS signing algorithm.
type Algorithm string

// The supported algorithms.
const (
	RS256 Algorithm = "RS256"
	PS256 Algorithm = "PS256"
)

// MaxTokenSize bounds the compact serialisation Parse accepts, so a hostile
// input cannot make it allocate without limit.
const MaxTokenSize = 64 << 10

// Errors returned by Parse and Verify.
var (
	ErrMalformed   = errors.New("jws: malformed token")
	ErrAlgorithm   = errors.New("jws: algorithm not allowed")
	ErrSignature   = errors.New("jws: signature verification failed")
	ErrUnsupported = errors.New("jws: unsupported key")
)

var b64 = base64.RawURLEncoding

// Header is the protected header of a token. Extra members are kept in Raw.
type Header struct {
	Alg     Algorithm `json:"alg"`
	Typ     string    `json:"typ,omitempty"`
	Kid     string    `json:"kid,omitempty"`
	X5t     string    `json:"x5t,omitempty"`
	X5tS256 string    `json:"x5t#S256,omitempty"`
	X5c     []string  `json:"x5c,omitempty"`
	Raw     []byte    `json:"-"`
}

// Sign serialises claims (any JSON-marshalable value, or json.RawMessage) and
// signs them with key under header.Alg. The header's Raw field is ignored.
func Sign(key *rsa.PrivateKey, header Header, claims any) (string, error) {
	if key == nil {
		return "", ErrUnsupported
	}
	hdr, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("jws: encoding header: %w", err)
	}
	payload, ok := claims.(json.RawMessage)
	if !ok {
		if payload, err = json.Marshal(claims); err != nil {
			return "", fmt.Errorf("jws: encoding claims: %w", err)
		}
	}
	var sb strings.Builder
	sb.Grow(b64.EncodedLen(len(hdr)) + b64.EncodedLen(len(payload)) + 2 + b64.EncodedLen(key.Size()))
	sb.WriteString(b64.EncodeToString(hdr))
	sb.WriteByte('.')
	sb.WriteString(b64.EncodeToString(payload))
	sig, err := signBytes(key, header.Alg, []byte(sb.String()))
	if err != nil {
		return "", err
	}
	sb.WriteByte('.')
	sb.WriteString(b64.EncodeToString(sig))
	return sb.String(), nil
}

func signBytes(key *rsa.PrivateKey, alg Algorithm, input []byte) ([]byte, error) {
	sum := sha256.Sum256(input)
	switch alg {
	case RS256:
		return rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	case PS256:
		return rsa.SignPSS(rand.Reader, key, crypto.SHA256, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	default:
		return nil, ErrAlgorithm
	}
}

// Token is a parsed, not yet verified, compact JWS.
type Token struct {
	Header  Header
	Payload []byte // the decoded payload (JSON claims)

	signingInput []byte
	signature    []byte
}

// Parse splits and decodes a compact JWS without verifying it. Only tokens
// whose header names one of allowed algorithms are accepted ("none" and HMAC
// algorithms can never be allowed).
func Parse(token string, allowed ...Algorithm) (*Token, error) {
	if len(token) == 0 || len(token) > MaxTokenSize {
		return nil, ErrMalformed
	}
	first := strings.IndexByte(token, '.')
	last := strings.LastIndexByte(token, '.')
	if first <= 0 || last == first || last == len(token)-1 || strings.Count(token, ".") != 2 {
		return nil, ErrMalformed
	}
	hdrJSON, err := b64.DecodeString(token[:first])
	if err != nil {
		return nil, ErrMalformed
	}
	payload, err := b64.DecodeString(token[first+1 : last])
	if err != nil {
		return nil, ErrMalformed
	}
	sig, err := b64.DecodeString(token[last+1:])
	if err != nil {
		return nil, ErrMalformed
	}
	var h Header
	dec := json.NewDecoder(bytes.NewReader(hdrJSON))
	if err := dec.Decode(&h); err != nil {
		return nil, ErrMalformed
	}
	h.Raw = hdrJSON
	if !algorithmAllowed(h.Alg, allowed) {
		return nil, ErrAlgorithm
	}
	return &Token{Header: h, Payload: payload, signingInput: []byte(token[:last]), signature: sig}, nil
}

func algorithmAllowed(alg Algorithm, allowed []Algorithm) bool {
	if alg != RS256 && alg != PS256 {
		return false
	}
	for _, a := range allowed {
		if a == alg {
			return true
		}
	}
	return false
}

// Verify checks the token's signature with key.
func (t *Token) Verify(key *rsa.PublicKey) error {
	if key == nil || key.N == nil || key.N.BitLen() < 2048 {
		return ErrUnsupported
	}
	sum := sha256.Sum256(t.signingInput)
	var err error
	switch t.Header.Alg {
	case RS256:
		err = rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], t.signature)
	case PS256:
		err = rsa.VerifyPSS(key, crypto.SHA256, sum[:], t.signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	default:
		err = ErrAlgorithm
	}
	if err != nil {
		return ErrSignature
	}
	return nil
}

// Claims decodes the payload into v.
func (t *Token) Claims(v any) error {
	if err := json.Unmarshal(t.Payload, v); err != nil {
		return ErrMalformed
	}
	return nil
}

// Thumbprints returns the certificate's SHA-1 and SHA-256 thumbprints as
// base64url without padding, the forms of the "x5t" and "x5t#S256" headers.
func Thumbprints(certDER []byte) (x5t, x5tS256 string) {
	s1 := sha1.Sum(certDER)
	s256 := sha256.Sum256(certDER)
	return b64.EncodeToString(s1[:]), b64.EncodeToString(s256[:])
}
