package certsource_test

import (
	"context"
	"crypto/x509"
	"fmt"
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
