package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Algorithms a resource server accepts by default, and their names.
var Algorithms = []string{"ES256", "EdDSA", "PS256", "RS256"}

// Signer makes proofs with one private key.
type Signer struct {
	key    crypto.Signer
	alg    jose.SignatureAlgorithm
	jkt    string
	signer jose.Signer
}

// NewSigner returns a signer for key: ES256 for an EC P-256 key, EdDSA for
// Ed25519, PS256 for RSA (2048 bits or more).
func NewSigner(key crypto.Signer) (*Signer, error) {
	var alg jose.SignatureAlgorithm
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("dpop: only P-256 EC keys (ES256) are supported")
		}
		alg = jose.ES256
	case ed25519.PrivateKey:
		alg = jose.EdDSA
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, errors.New("dpop: RSA keys must have 2048 bits or more")
		}
		alg = jose.PS256
	default:
		return nil, fmt.Errorf("dpop: unsupported key type %T", key)
	}
	pub := jose.JSONWebKey{Key: key.Public(), Algorithm: string(alg)}
	jkt, err := Thumbprint(&pub)
	if err != nil {
		return nil, err
	}
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt")
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return nil, err
	}
	return &Signer{key: key, alg: alg, jkt: jkt, signer: s}, nil
}

// GenerateKey makes a key for alg: "ES256" (P-256) or "EdDSA" (Ed25519).
func GenerateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case "ES256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA", "Ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("dpop: cannot generate a key for %q", alg)
}

// ChooseAlg picks the algorithm for a new key from what the provider
// lists (dpop_signing_alg_values_supported): ES256 first, then EdDSA. ok is
// false when it lists neither.
func ChooseAlg(supported []string) (string, bool) {
	for _, a := range []string{"ES256", "EdDSA", "Ed25519"} {
		if slices.Contains(supported, a) {
			return a, true
		}
	}
	return "", false
}

// Thumbprint is the RFC 7638 SHA-256 thumbprint of a public JWK, base64url:
// the jkt a DPoP-bound token's cnf claim carries.
func Thumbprint(k *jose.JSONWebKey) (string, error) {
	b, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// JKT is the signer's key thumbprint.
func (s *Signer) JKT() string { return s.jkt }

// Alg is the signer's algorithm.
func (s *Signer) Alg() string { return string(s.alg) }

type claims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   int64  `json:"iat"`
	Nonce string `json:"nonce,omitempty"`
	ATH   string `json:"ath,omitempty"`
}

// Proof makes a proof for one request: method and URL (its query and
// fragment are left out), the time, the server's nonce if it gave one, and
// the access token it accompanies ("" for token requests).
func (s *Signer) Proof(method, rawURL string, now time.Time, nonce, accessToken string) (string, error) {
	htu, err := HTU(rawURL)
	if err != nil {
		return "", err
	}
	var id [16]byte
	rand.Read(id[:])
	c := claims{JTI: base64.RawURLEncoding.EncodeToString(id[:]), HTM: method, HTU: htu, IAT: now.Unix(), Nonce: nonce}
	if accessToken != "" {
		c.ATH = ATH(accessToken)
	}
	payload, _ := json.Marshal(c)
	jws, err := s.signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// HTU is a URL as proofs carry it: scheme and host lower-case, no query,
// no fragment.
func HTU(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", errors.New("dpop: the request URL is not an absolute http(s) URL")
	}
	out := url.URL{Scheme: strings.ToLower(u.Scheme), Host: strings.ToLower(u.Host), Path: u.Path, RawPath: u.RawPath}
	return out.String(), nil
}

// ATH is the hash of an access token a proof carries: base64url(SHA-256).
func ATH(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Check is what a resource server expects of a proof.
type Check struct {
	Method, URL string    // the request, URL as HTU builds it
	Now         time.Time // the server's clock
	MaxAge      time.Duration
	MaxSkew     time.Duration // how far in the future iat may be
	Algs        []string      // accepted algorithms
	AccessToken string        // the token the proof accompanies ("" for none)
	Nonce       func(string) bool
}

// Proven is what a valid proof establishes.
type Proven struct {
	JKT string // the thumbprint of the key that signed it
	JTI string
	IAT time.Time
}

// Errors of Verify. ErrNonce asks the client to retry with the server's
// nonce (RFC 9449 §9).
var (
	ErrInvalid = errors.New("dpop: invalid proof")
	ErrNonce   = errors.New("dpop: a fresh server nonce is required")
)

type invalid struct{ reason string }

func (e *invalid) Error() string   { return "dpop: invalid proof: " + e.reason }
func (e *invalid) Is(t error) bool { return t == ErrInvalid }

// Verify checks a proof per RFC 9449 §4.3: a compact JWS of type dpop+jwt,
// signed with an accepted asymmetric algorithm by the public JWK in its
// header; htm and htu matching the request; iat within the window; ath
// matching the token; the server's nonce when it asks for one. Replay of
// the jti is the caller's to check (it needs a store shared by every
// instance).
func Verify(proof string, c Check) (Proven, error) {
	if len(proof) > 8<<10 {
		return Proven{}, &invalid{"too large"}
	}
	algs := make([]jose.SignatureAlgorithm, 0, len(c.Algs))
	for _, a := range c.Algs {
		if a != "none" && !strings.HasPrefix(a, "HS") {
			algs = append(algs, jose.SignatureAlgorithm(a))
		}
	}
	jws, err := jose.ParseSigned(proof, algs)
	if err != nil || len(jws.Signatures) != 1 {
		return Proven{}, &invalid{"not a compact JWS with an accepted algorithm"}
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "dpop+jwt" {
		return Proven{}, &invalid{"typ is not dpop+jwt"}
	}
	jwk := h.JSONWebKey
	if jwk == nil || !jwk.Valid() || !jwk.IsPublic() {
		return Proven{}, &invalid{"no public jwk in the header"}
	}
	payload, err := jws.Verify(jwk)
	if err != nil {
		return Proven{}, &invalid{"bad signature"}
	}
	var cl claims
	if json.Unmarshal(payload, &cl) != nil || cl.JTI == "" || cl.HTM == "" || cl.HTU == "" || cl.IAT == 0 {
		return Proven{}, &invalid{"missing claims"}
	}
	htu, err := HTU(cl.HTU)
	switch {
	case cl.HTM != c.Method:
		return Proven{}, &invalid{"htm does not match the request"}
	case err != nil || htu != c.URL:
		return Proven{}, &invalid{"htu does not match the request"}
	}
	iat := time.Unix(cl.IAT, 0)
	if iat.Before(c.Now.Add(-c.MaxAge)) || iat.After(c.Now.Add(c.MaxSkew)) {
		return Proven{}, &invalid{"iat outside the accepted window"}
	}
	if c.AccessToken != "" && cl.ATH != ATH(c.AccessToken) {
		return Proven{}, &invalid{"ath does not match the access token"}
	}
	if c.Nonce != nil && !c.Nonce(cl.Nonce) {
		return Proven{}, ErrNonce
	}
	jkt, err := Thumbprint(jwk)
	if err != nil {
		return Proven{}, &invalid{"the jwk has no thumbprint"}
	}
	return Proven{JKT: jkt, JTI: cl.JTI, IAT: iat}, nil
}
