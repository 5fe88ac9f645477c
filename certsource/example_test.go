package certsource_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/identityweb/go-identityweb/certsource"
	"github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// A certificate credential signs private_key_jwt assertions (PS256,
// x5t#S256) and reuses each while it has minutes to live.
func ExampleNewCertificate() {
	c, _ := identitywebtest.NewCertificate("my app", 0) // in production: certsource.LoadPEMFile(…)
	cred, err := certsource.NewCertificate([]*x509.Certificate{c.Cert}, c.Key, certsource.CertificateOptions{})
	if err != nil {
		panic(err)
	}
	req := certsource.AuthRequest{ClientID: "client-id", TokenEndpoint: "https://login.example/t/oauth2/v2.0/token", Now: time.Now()}
	a, _ := cred.ClientAuth(context.Background(), req)
	b, _ := cred.ClientAuth(context.Background(), req)
	fmt.Println(strings.Count(a.ClientAssertion, "."), a == b, strings.HasPrefix(cred.Description(), "certificate sha256:"))
	// Output: 2 true true
}

// A client secret, for development.
func ExampleNewSecret() {
	cred, _ := certsource.NewSecret("dev-secret")
	p, _ := cred.ClientAuth(context.Background(), certsource.AuthRequest{})
	fmt.Println(p.ClientSecret, cred)
	// Output: dev-secret certsource.Secret(redacted)
}

// For a standards provider: the algorithm comes from its discovery document,
// and each request gets a fresh assertion (a jti is accepted once).
func ExampleCertificate_ClientAuth_standardsProvider() {
	c, _ := identitywebtest.NewCertificate("my app", 0)
	cred, _ := certsource.NewCertificate([]*x509.Certificate{c.Cert}, c.Key, certsource.CertificateOptions{})
	req := certsource.AuthRequest{ClientID: "client-id", TokenEndpoint: "https://op.example/token", Now: time.Now(),
		SigningAlgs:    []string{"RS256", "ES256"}, // token_endpoint_auth_signing_alg_values_supported
		FreshAssertion: true}
	a, _ := cred.ClientAuth(context.Background(), req)
	b, _ := cred.ClientAuth(context.Background(), req)
	fmt.Println(a.AssertionAlg, a.ClientAssertion != b.ClientAssertion, cred.KeyID() != "")

	form, header := url.Values{"grant_type": {"client_credentials"}}, http.Header{}
	a.Apply(header, form, "client-id", certsource.SecretBasic)
	fmt.Println(form.Get("client_assertion_type"))
	// Output:
	// RS256 true true
	// urn:ietf:params:oauth:client-assertion-type:jwt-bearer
}
