package identitywebtest_test

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

var (
	certOnce sync.Once
	certA    *iwt.Certificate
	certB    *iwt.Certificate
	certAErr error
)

// testCerts returns two client certificates shared by the tests.
func testCerts(t *testing.T) (*iwt.Certificate, *iwt.Certificate) {
	t.Helper()
	certOnce.Do(func() {
		if certA, certAErr = iwt.NewCertificate("daemon A", 0); certAErr == nil {
			certB, certAErr = iwt.NewCertificate("daemon B", 0)
		}
	})
	if certAErr != nil {
		t.Fatal(certAErr)
	}
	return certA, certB
}

type assertionOpts struct {
	alg       jose.SignatureAlgorithm
	header    string // "x5t#S256", "x5t", "kid-hex"
	aud       string
	iss, sub  string
	lifetime  time.Duration
	notBefore time.Time
	jti       string
	now       time.Time
}

// assertion builds a private_key_jwt client assertion with go-jose, as a
// client library would.
func assertion(t *testing.T, c *iwt.Certificate, o assertionOpts) string {
	t.Helper()
	if o.alg == "" {
		o.alg = jose.PS256
	}
	if o.now.IsZero() {
		o.now = time.Now()
	}
	if o.lifetime == 0 {
		o.lifetime = 10 * time.Minute
	}
	if o.jti == "" {
		o.jti = randomVerifier()
	}
	s1 := sha1.Sum(c.Cert.Raw)
	s256 := sha256.Sum256(c.Cert.Raw)
	opts := (&jose.SignerOptions{}).WithType("JWT")
	switch o.header {
	case "x5t":
		opts = opts.WithHeader("x5t", base64.RawURLEncoding.EncodeToString(s1[:]))
	case "x5t#S256-std": // MSAL Go's form: standard base64 with padding
		opts = opts.WithHeader("x5t#S256", base64.StdEncoding.EncodeToString(s256[:]))
	case "kid-hex":
		opts = opts.WithHeader("kid", hex.EncodeToString(s1[:]))
	default:
		opts = opts.WithHeader("x5t#S256", base64.RawURLEncoding.EncodeToString(s256[:]))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: o.alg, Key: c.Key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	cl := jwt.Claims{
		Issuer: o.iss, Subject: o.sub, Audience: jwt.Audience{o.aud}, ID: o.jti,
		IssuedAt: jwt.NewNumericDate(o.now), Expiry: jwt.NewNumericDate(o.now.Add(o.lifetime)),
	}
	if !o.notBefore.IsZero() {
		cl.NotBefore = jwt.NewNumericDate(o.notBefore)
	}
	s, err := jwt.Signed(signer).Claims(cl).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func withCert(t *testing.T, opts iwt.Options, certs ...*iwt.Certificate) *iwt.Server {
	s := iwt.NewServer(t, opts)
	for _, c := range certs {
		s.AddCertificate(iwt.DaemonClientID, c)
	}
	return s
}

func assertionToken(s *iwt.Server, a string) (*oauth2.Token, error) {
	conf := clientcredentials.Config{
		ClientID: iwt.DaemonClientID, TokenURL: s.TokenEndpoint(tenant), Scopes: []string{apiDefault},
		AuthStyle: oauth2.AuthStyleInParams,
		EndpointParams: url.Values{
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {a},
		},
	}
	return conf.Token(ctxFor(s))
}

func TestPrivateKeyJWT(t *testing.T) {
	a, _ := testCerts(t)
	s := withCert(t, iwt.Options{}, a)
	base := assertionOpts{aud: s.TokenEndpoint(tenant), iss: iwt.DaemonClientID, sub: iwt.DaemonClientID}
	for _, tc := range []struct {
		name   string
		alg    jose.SignatureAlgorithm
		header string
	}{{"PS256 x5t#S256", jose.PS256, "x5t#S256"}, {"RS256 x5t", jose.RS256, "x5t"}, {"RS256 kid", jose.RS256, "kid-hex"}, {"PS256 x5t#S256 std base64", jose.PS256, "x5t#S256-std"}} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			o.alg, o.header = tc.alg, tc.header
			tok, err := assertionToken(s, assertion(t, a, o))
			if err != nil {
				t.Fatal(err)
			}
			if c := claimsOf(t, tok.AccessToken); c["azpacr"] != "2" {
				t.Fatalf("azpacr = %v, want 2 (certificate)", c["azpacr"])
			}
		})
	}
	// The v1 endpoint and the tenant id are accepted as audience too.
	o := base
	o.aud = s.URL + "/" + tenant + "/oauth2/token"
	if _, err := assertionToken(s, assertion(t, a, o)); err != nil {
		t.Fatalf("v1 audience: %v", err)
	}
}

func TestPrivateKeyJWTErrors(t *testing.T) {
	a, b := testCerts(t)
	clk := newFakeClock()
	s := withCert(t, iwt.Options{Now: clk.Now}, a)
	good := assertionOpts{aud: s.TokenEndpoint(tenant), iss: iwt.DaemonClientID, sub: iwt.DaemonClientID, now: clk.Now()}
	cases := []struct {
		name   string
		cert   *iwt.Certificate
		mutate func(*assertionOpts)
		code   string
		aadsts int
	}{
		{"unregistered certificate", b, func(*assertionOpts) {}, "invalid_client", iwt.CodeUnknownCertificate},
		{"expired", a, func(o *assertionOpts) { o.now = o.now.Add(-30 * time.Minute) }, "invalid_client", iwt.CodeAssertionTimeRange},
		{"lives too long", a, func(o *assertionOpts) { o.lifetime = time.Hour }, "invalid_client", iwt.CodeAssertionTimeRange},
		{"not yet valid", a, func(o *assertionOpts) { o.notBefore = o.now.Add(time.Hour); o.lifetime = 5 * time.Minute }, "invalid_client", iwt.CodeAssertionTimeRange},
		{"wrong audience", a, func(o *assertionOpts) { o.aud = "https://elsewhere.example/token" }, "invalid_client", iwt.CodeInvalidJWT},
		{"wrong issuer", a, func(o *assertionOpts) { o.iss = iwt.WebAppClientID }, "invalid_client", iwt.CodeAssertionIssuer},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := good
			tc.mutate(&o)
			_, err := assertionToken(s, assertion(t, tc.cert, o))
			wantOAuthError(t, err, tc.code, tc.aadsts)
		})
	}
	t.Run("tampered", func(t *testing.T) {
		tok := assertion(t, a, good)
		_, err := assertionToken(s, tok[:len(tok)-4]+"AAAA")
		wantOAuthError(t, err, "invalid_client", iwt.CodeUnknownCertificate)
		_, err = assertionToken(s, "not.a.jwt")
		wantOAuthError(t, err, "invalid_client", iwt.CodeInvalidJWT)
		_, err = assertionToken(s, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
		wantOAuthError(t, err, "invalid_client", iwt.CodeInvalidJWT)
	})
}

func TestCertificateRevocationAndRotation(t *testing.T) {
	a, b := testCerts(t)
	s := withCert(t, iwt.Options{}, a)
	o := assertionOpts{aud: s.TokenEndpoint(tenant), iss: iwt.DaemonClientID, sub: iwt.DaemonClientID}
	if _, err := assertionToken(s, assertion(t, a, o)); err != nil {
		t.Fatal(err)
	}
	s.AddCertificate(iwt.DaemonClientID, b)
	if !s.RevokeCertificate(iwt.DaemonClientID, a) {
		t.Fatal("RevokeCertificate found nothing")
	}
	_, err := assertionToken(s, assertion(t, a, o))
	wantOAuthError(t, err, "invalid_client", iwt.CodeUnknownCertificate)
	if _, err := assertionToken(s, assertion(t, b, o)); err != nil {
		t.Fatalf("new certificate: %v", err)
	}
}

func TestAssertionReuse(t *testing.T) {
	a, _ := testCerts(t)
	t.Run("allowed by default", func(t *testing.T) {
		s := withCert(t, iwt.Options{}, a)
		as := assertion(t, a, assertionOpts{aud: s.TokenEndpoint(tenant), iss: iwt.DaemonClientID, sub: iwt.DaemonClientID})
		for i := 0; i < 2; i++ {
			if _, err := assertionToken(s, as); err != nil {
				t.Fatalf("use %d: %v", i, err)
			}
		}
	})
	t.Run("RejectAssertionReplay", func(t *testing.T) {
		s := withCert(t, iwt.Options{RejectAssertionReplay: true}, a)
		as := assertion(t, a, assertionOpts{aud: s.TokenEndpoint(tenant), iss: iwt.DaemonClientID, sub: iwt.DaemonClientID})
		if _, err := assertionToken(s, as); err != nil {
			t.Fatal(err)
		}
		_, err := assertionToken(s, as)
		wantOAuthError(t, err, "invalid_client", iwt.CodeAssertionReplayed)
	})
}
