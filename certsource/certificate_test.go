package certsource_test

import (
	"context"
	"crypto/x509"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/identityweb/go-identityweb/certsource"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/internal/jws"
)

func newCert(t *testing.T, opts certsource.CertificateOptions) (*certsource.Certificate, *iwt.Certificate) {
	t.Helper()
	c, err := iwt.NewCertificate("certsource test", 0)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := certsource.NewCertificate([]*x509.Certificate{c.Cert}, c.Key, opts)
	if err != nil {
		t.Fatal(err)
	}
	return cred, c
}

func TestCertificateAssertionShape(t *testing.T) {
	cred, c := newCert(t, certsource.CertificateOptions{SendX5C: true})
	now := time.Now()
	p, err := cred.ClientAuth(context.Background(), certsource.AuthRequest{ClientID: "cid", TokenEndpoint: "https://idp/t/oauth2/v2.0/token", Now: now})
	if err != nil || p.ClientSecret != "" {
		t.Fatal(err)
	}
	tok, err := jws.Parse(p.ClientAssertion, jws.PS256)
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.Verify(&c.Key.PublicKey); err != nil {
		t.Fatal(err)
	}
	_, s256 := jws.Thumbprints(c.Cert.Raw)
	if tok.Header.X5tS256 != s256 || tok.Header.X5t != "" || len(tok.Header.X5c) != 1 {
		t.Fatalf("header = %+v", tok.Header)
	}
	var cl struct {
		Aud, Iss, Sub, Jti string
		Exp, Nbf           int64
	}
	tok.Claims(&cl)
	if cl.Aud != "https://idp/t/oauth2/v2.0/token" || cl.Iss != "cid" || cl.Sub != "cid" || cl.Jti == "" || cl.Exp-cl.Nbf != 600 {
		t.Fatalf("claims = %+v", cl)
	}
	if !strings.HasPrefix(cred.Description(), "certificate sha256:") || strings.Contains(cred.Description(), "PRIVATE") {
		t.Fatalf("Description = %q", cred.Description())
	}
}

func TestCertificateRS256(t *testing.T) {
	cred, c := newCert(t, certsource.CertificateOptions{RS256: true})
	p, _ := cred.ClientAuth(context.Background(), certsource.AuthRequest{ClientID: "c", TokenEndpoint: "e", Now: time.Now()})
	tok, err := jws.Parse(p.ClientAssertion, jws.RS256)
	if err != nil {
		t.Fatal(err)
	}
	x5t, _ := jws.Thumbprints(c.Cert.Raw)
	if tok.Header.X5t != x5t || tok.Header.X5tS256 != "" {
		t.Fatalf("header = %+v", tok.Header)
	}
}

func TestCertificateReusesAssertion(t *testing.T) {
	cred, _ := newCert(t, certsource.CertificateOptions{})
	ctx := context.Background()
	now := time.Now()
	req := certsource.AuthRequest{ClientID: "c", TokenEndpoint: "e", Now: now}
	a, _ := cred.ClientAuth(ctx, req)
	req.Now = now.Add(4 * time.Minute)
	b, _ := cred.ClientAuth(ctx, req)
	if a != b {
		t.Fatal("assertion not reused with 6 minutes left")
	}
	req.Now = now.Add(6 * time.Minute)
	c, _ := cred.ClientAuth(ctx, req)
	if c == a {
		t.Fatal("assertion reused with 4 minutes left")
	}
	req.TokenEndpoint = "other"
	if d, _ := cred.ClientAuth(ctx, req); d == c {
		t.Fatal("assertion shared across audiences")
	}
	cred.Reload(ctx)
	req.TokenEndpoint = "e"
	if e, _ := cred.ClientAuth(ctx, req); e == c {
		t.Fatal("Reload did not drop the cached assertion")
	}
}

func TestNewCertificateRejectsMismatchedKey(t *testing.T) {
	a, _ := iwt.NewCertificate("a", 0)
	b, _ := iwt.NewCertificate("b", 0)
	if _, err := certsource.NewCertificate([]*x509.Certificate{a.Cert}, b.Key, certsource.CertificateOptions{}); err == nil {
		t.Fatal("mismatched key accepted")
	}
	if _, err := certsource.NewCertificate(nil, nil, certsource.CertificateOptions{}); err == nil {
		t.Fatal("empty certificate accepted")
	}
	if _, err := certsource.NewSecret(""); err == nil {
		t.Fatal("empty secret accepted")
	}
}

// The development provider (Entra-compatible) accepts the assertions.
func TestCertificateAgainstProvider(t *testing.T) {
	for _, opts := range []certsource.CertificateOptions{{}, {RS256: true}, {SendX5C: true}} {
		cred, c := newCert(t, opts)
		s := iwt.NewServer(t, iwt.Options{})
		s.AddCertificate(iwt.DaemonClientID, c)
		endpoint := s.TokenEndpoint(iwt.DefaultTenantID)
		p, _ := cred.ClientAuth(context.Background(), certsource.AuthRequest{ClientID: iwt.DaemonClientID, TokenEndpoint: endpoint, Now: time.Now()})
		conf := clientcredentials.Config{ClientID: iwt.DaemonClientID, TokenURL: endpoint, AuthStyle: oauth2.AuthStyleInParams,
			Scopes: []string{iwt.WebAPIIdentifierURI + "/.default"},
			EndpointParams: url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
				"client_assertion": {p.ClientAssertion}}}
		if _, err := conf.Token(context.WithValue(context.Background(), oauth2.HTTPClient, s.Client())); err != nil {
			t.Fatalf("%+v: %v", opts, err)
		}
	}
}
