package certsource_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/identityweb/go-identityweb/certsource"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// ecCertificate returns a self-signed certificate for a new EC key on curve.
func ecCertificate(t testing.TB, curve elliptic.Curve) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "certsource EC test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// header returns a compact JWS's protected header members.
func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.SplitN(tok, ".", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// verify checks tok's signature with go-jose against pub, allowing only alg,
// and returns its claims.
func verify(t *testing.T, tok string, alg jose.SignatureAlgorithm, pub crypto.PublicKey) map[string]any {
	t.Helper()
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{alg})
	if err != nil {
		t.Fatalf("parse (%s only): %v", alg, err)
	}
	payload, err := jws.Verify(pub)
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func thumbprintOf(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

func TestSigningAlgorithmSelection(t *testing.T) {
	rsaCert, _ := iwt.NewCertificate("alg selection", 0)
	ecCert, ecKey := ecCertificate(t, elliptic.P256())
	creds := map[string]*certsource.Certificate{}
	var err error
	if creds["RSA"], err = certsource.NewCertificate([]*x509.Certificate{rsaCert.Cert}, rsaCert.Key, certsource.CertificateOptions{}); err != nil {
		t.Fatal(err)
	}
	if creds["RSA+RS256"], err = certsource.NewCertificate([]*x509.Certificate{rsaCert.Cert}, rsaCert.Key, certsource.CertificateOptions{RS256: true}); err != nil {
		t.Fatal(err)
	}
	if creds["EC"], err = certsource.NewCertificate([]*x509.Certificate{ecCert}, ecKey, certsource.CertificateOptions{}); err != nil {
		t.Fatal(err)
	}
	pubs := map[string]crypto.PublicKey{"RSA": &rsaCert.Key.PublicKey, "RSA+RS256": &rsaCert.Key.PublicKey, "EC": &ecKey.PublicKey}
	for _, tc := range []struct {
		cred    string
		offered []string
		want    string // "" = ErrNoSigningAlgorithm
	}{
		{"RSA", nil, "PS256"}, // Entra's default
		{"RSA", []string{}, "PS256"},
		{"RSA", []string{"RS256"}, "RS256"},
		{"RSA", []string{"RS256", "PS256"}, "PS256"}, // our preference, not the list's order
		{"RSA", []string{"HS256", "RS256", "PS256", "ES256", "EdDSA"}, "PS256"},
		{"RSA", []string{"ES256"}, ""},
		{"RSA", []string{"ps256", "rs256"}, ""}, // JWA names are case-sensitive
		{"RSA", []string{"none", "HS256"}, ""},
		{"RSA+RS256", nil, "RS256"},
		{"RSA+RS256", []string{"PS256"}, "PS256"},
		{"RSA+RS256", []string{"PS256", "RS256"}, "RS256"},
		{"EC", nil, "ES256"},
		{"EC", []string{"RS256", "PS256", "ES256"}, "ES256"},
		{"EC", []string{"RS256", "PS256"}, ""},
		{"EC", []string{"ES384", "ES512"}, ""},
		{"EC", []string{"", strings.Repeat("A", 4096)}, ""},
	} {
		p, err := creds[tc.cred].ClientAuth(context.Background(), certsource.AuthRequest{ClientID: "c", TokenEndpoint: "https://op.test/token",
			Now: time.Now(), SigningAlgs: tc.offered})
		if tc.want == "" {
			var ae *certsource.AlgorithmError
			if !errors.Is(err, certsource.ErrNoSigningAlgorithm) || !errors.As(err, &ae) || p.ClientAssertion != "" {
				t.Errorf("%s offered %v: %v %+v, want ErrNoSigningAlgorithm", tc.cred, tc.offered, err, p)
				continue
			}
			if len(ae.Usable) == 0 || len(err.Error()) > 400 || !strings.HasPrefix(err.Error(), "certsource: ") {
				t.Errorf("%s offered %v: error %+v: %q", tc.cred, tc.offered, ae, err)
			}
			continue
		}
		if err != nil || p.AssertionAlg != tc.want || header(t, p.ClientAssertion)["alg"] != tc.want {
			t.Errorf("%s offered %v: %v alg %q, want %s", tc.cred, tc.offered, err, p.AssertionAlg, tc.want)
			continue
		}
		verify(t, p.ClientAssertion, jose.SignatureAlgorithm(tc.want), pubs[tc.cred])
	}
}

func TestECCertificateAssertion(t *testing.T) {
	cert, key := ecCertificate(t, elliptic.P256())
	der, _ := x509.MarshalECPrivateKey(key)
	data := append(certPEM(cert), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})...)
	cred, err := certsource.ParseCertificate(data, "", certsource.CertificateOptions{SendX5C: true})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	p, err := cred.ClientAuth(context.Background(), certsource.AuthRequest{ClientID: "cid", TokenEndpoint: "https://op.test/token", Now: now})
	if err != nil || p.AssertionAlg != "ES256" || p.ClientSecret != "" {
		t.Fatalf("%v %+v", err, p)
	}
	claims := verify(t, p.ClientAssertion, jose.ES256, &key.PublicKey)
	if claims["aud"] != "https://op.test/token" || claims["iss"] != "cid" || claims["sub"] != "cid" || claims["jti"] == "" ||
		claims["exp"].(float64)-claims["iat"].(float64) != 600 || claims["nbf"].(float64) != float64(now.Unix()) {
		t.Fatalf("claims %v", claims)
	}
	h := header(t, p.ClientAssertion)
	s256 := sha256.Sum256(cert.Raw)
	x5c, _ := h["x5c"].([]any)
	if h["typ"] != "JWT" || h["kid"] != thumbprintOf(t, &key.PublicKey) || h["kid"] != cred.KeyID() ||
		h["x5t#S256"] != base64.RawURLEncoding.EncodeToString(s256[:]) || len(x5c) != 1 || h["x5t"] != nil {
		t.Fatalf("header %v", h)
	}
	if !strings.HasPrefix(cred.Description(), "certificate sha256:") {
		t.Fatal(cred.Description())
	}
}

// Every assertion names its key by the RFC 7638 thumbprint (the vector of
// RFC 7638 §3.1 is checked in thumbprint_internal_test.go), beside x5t#S256.
func TestAssertionKeyIDIsJWKThumbprint(t *testing.T) {
	c, _ := iwt.NewCertificate("kid", 0)
	cred, err := certsource.NewCertificate([]*x509.Certificate{c.Cert}, c.Key, certsource.CertificateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := cred.ClientAuth(context.Background(), certsource.AuthRequest{ClientID: "c", TokenEndpoint: "e", Now: time.Now()})
	h := header(t, p.ClientAssertion)
	want := thumbprintOf(t, &c.Key.PublicKey)
	if h["kid"] != want || cred.KeyID() != want || h["x5t#S256"] == nil || h["alg"] != "PS256" {
		t.Fatalf("header %v, KeyID %s, want kid %s", h, cred.KeyID(), want)
	}
	// PublicJWK is what a provider registers: the same kid, no private part.
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(cred.PublicJWK()); err != nil {
		t.Fatal(err)
	}
	if jwk.KeyID != want || !jwk.IsPublic() || jwk.Use != "sig" || strings.Contains(string(cred.PublicJWK()), `"d"`) {
		t.Fatalf("PublicJWK %s", cred.PublicJWK())
	}
	verify(t, p.ClientAssertion, jose.PS256, jwk.Key)
}

func TestNewKeyWithoutCertificate(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cred, err := certsource.NewKey(key, certsource.CertificateOptions{SendX5C: true})
	if err != nil {
		t.Fatal(err)
	}
	p, err := cred.ClientAuth(context.Background(), certsource.AuthRequest{ClientID: "c", TokenEndpoint: "e", Now: time.Now(),
		SigningAlgs: []string{"RS256", "ES256"}})
	if err != nil {
		t.Fatal(err)
	}
	h := header(t, p.ClientAssertion)
	if h["kid"] != cred.KeyID() || h["x5t#S256"] != nil || h["x5t"] != nil || h["x5c"] != nil || h["alg"] != "ES256" {
		t.Fatalf("header %v", h)
	}
	verify(t, p.ClientAssertion, jose.ES256, &key.PublicKey)
	if d := cred.Description(); !strings.HasPrefix(d, "key jwk-sha256:") || !cred.NotAfter().IsZero() {
		t.Fatalf("Description %q NotAfter %v", d, cred.NotAfter())
	}
	for name, bad := range map[string]crypto.Signer{
		"nil":   nil,
		"P-384": func() crypto.Signer { k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader); return k }(),
	} {
		if _, err := certsource.NewKey(bad, certsource.CertificateOptions{}); !errors.Is(err, certsource.ErrBadCertificate) {
			t.Errorf("%s key: %v", name, err)
		}
	}
}

func TestFreshAssertionPerRequest(t *testing.T) {
	cert, key := ecCertificate(t, elliptic.P256())
	cred, _ := certsource.NewCertificate([]*x509.Certificate{cert}, key, certsource.CertificateOptions{})
	ctx := context.Background()
	req := certsource.AuthRequest{ClientID: "c", TokenEndpoint: "e", Now: time.Now(), FreshAssertion: true}
	jtis := map[any]bool{}
	for i := 0; i < 3; i++ {
		p, err := cred.ClientAuth(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		jtis[verify(t, p.ClientAssertion, jose.ES256, &key.PublicKey)["jti"]] = true
	}
	if len(jtis) != 3 {
		t.Fatalf("FreshAssertion: %d distinct jti in 3 requests", len(jtis))
	}
	// Without it (Entra), the assertion is reused — and a fresh one in
	// between does not disturb the reused one.
	req.FreshAssertion = false
	a, _ := cred.ClientAuth(ctx, req)
	req.FreshAssertion = true
	cred.ClientAuth(ctx, req)
	req.FreshAssertion = false
	if b, _ := cred.ClientAuth(ctx, req); a != b {
		t.Fatal("assertion not reused without FreshAssertion")
	}
	// An assertion cached for one algorithm is not served for another.
	rc, _ := iwt.NewCertificate("algs", 0)
	rcred, _ := certsource.NewCertificate([]*x509.Certificate{rc.Cert}, rc.Key, certsource.CertificateOptions{})
	ps, _ := rcred.ClientAuth(ctx, certsource.AuthRequest{ClientID: "c", TokenEndpoint: "e", Now: req.Now})
	rs, _ := rcred.ClientAuth(ctx, certsource.AuthRequest{ClientID: "c", TokenEndpoint: "e", Now: req.Now, SigningAlgs: []string{"RS256"}})
	if ps.AssertionAlg != "PS256" || rs.AssertionAlg != "RS256" || header(t, rs.ClientAssertion)["alg"] != "RS256" {
		t.Fatalf("%s then %s", ps.AssertionAlg, rs.AssertionAlg)
	}
}

func TestSecretMethodFor(t *testing.T) {
	for _, tc := range []struct {
		supported []string
		want      certsource.SecretMethod
		ok        bool
	}{
		{nil, certsource.SecretBasic, true}, // RFC 8414 default
		{[]string{"client_secret_post", "private_key_jwt", "client_secret_basic"}, certsource.SecretPost, true}, // Entra
		{[]string{"client_secret_basic", "private_key_jwt"}, certsource.SecretBasic, true},
		{[]string{"client_secret_post"}, certsource.SecretPost, true},
		{[]string{"private_key_jwt", "tls_client_auth"}, certsource.SecretPost, false},
	} {
		if m, ok := certsource.SecretMethodFor(tc.supported); m != tc.want || ok != tc.ok {
			t.Errorf("%v: %v %v, want %v %v", tc.supported, m, ok, tc.want, tc.ok)
		}
	}
	if certsource.SecretBasic.String() != "client_secret_basic" || certsource.SecretPost.String() != "client_secret_post" {
		t.Fatal("String")
	}
}

func TestAuthParamsApply(t *testing.T) {
	id, secret := "app:1 é", "s/e+c r%t:"
	h, form := http.Header{}, url.Values{"client_id": {id}, "grant_type": {"client_credentials"}}
	certsource.AuthParams{ClientSecret: secret}.Apply(h, form, id, certsource.SecretBasic)
	r := http.Request{Header: h}
	u, pw, ok := r.BasicAuth()
	du, _ := url.QueryUnescape(u)
	dpw, _ := url.QueryUnescape(pw)
	if !ok || du != id || dpw != secret || strings.ContainsAny(u, ": ") || form.Has("client_id") || form.Has("client_secret") {
		t.Fatalf("basic: %q %q %v form %v", u, pw, ok, form)
	}
	h, form = http.Header{}, url.Values{}
	certsource.AuthParams{ClientSecret: secret}.Apply(h, form, id, certsource.SecretPost)
	if h.Get("Authorization") != "" || form.Get("client_id") != id || form.Get("client_secret") != secret {
		t.Fatalf("post: %v %v", h, form)
	}
	h, form = http.Header{}, url.Values{}
	certsource.AuthParams{ClientAssertion: "a.b.c", AssertionAlg: "ES256"}.Apply(h, form, id, certsource.SecretBasic)
	if h.Get("Authorization") != "" || form.Get("client_assertion") != "a.b.c" || form.Get("client_id") != id ||
		form.Get("client_assertion_type") != certsource.ClientAssertionType || form.Has("client_secret") {
		t.Fatalf("assertion: %v %v", h, form)
	}
	h, form = http.Header{}, url.Values{}
	certsource.AuthParams{}.Apply(h, form, id, certsource.SecretBasic)
	if len(h) != 0 || len(form) != 1 || form.Get("client_id") != id {
		t.Fatalf("public client: %v %v", h, form)
	}
}
