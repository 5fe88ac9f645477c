package oidcprovidertest_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/certsource"
	"github.com/identityweb/go-identityweb/internal/oidcprovidertest"
)

// certificatePEM returns a self-signed certificate for key and the key, as
// PEM, the way a deployment would hand them to certsource.
func certificatePEM(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "oidcprovidertest client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})...)
}

// clientCredentials asks for a todo API token with cred's authentication,
// sent by certsource's AuthParams.Apply over plain net/http.
func clientCredentials(t *testing.T, p *oidcprovidertest.Provider, clientID string, cred certsource.Credential,
	req certsource.AuthRequest, m certsource.SecretMethod) (tokenResponse, certsource.AuthParams) {
	t.Helper()
	auth, err := cred.ClientAuth(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	status, body := postForm(t, p.Metadata().TokenEndpoint,
		url.Values{"grant_type": {"client_credentials"}, "resource": {oidcprovidertest.ResourceTodo}, "scope": {"todo.write"}},
		func(r *http.Request, f url.Values) { auth.Apply(r.Header, f, clientID, m) })
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		t.Fatalf("%d: %s", status, body)
	}
	tr.Status = status
	return tr, auth
}

// certsource's private_key_jwt assertions — RSA and EC certificates, and a
// bare EC key — are accepted by oidc-provider, with the algorithm chosen from
// its discovery document and a fresh jti per request.
func TestCertsourceAssertionsAtOIDCProvider(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := oidcprovidertest.Start(t, oidcprovidertest.Options{RSAKey: rsaKey, ECKey: ecKey})
	m := p.Metadata()
	rsaCred, err := certsource.ParsePEM(certificatePEM(t, rsaKey), certsource.CertificateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ecCred, err := certsource.ParsePEM(certificatePEM(t, ecKey), certsource.CertificateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bareEC, err := certsource.NewKey(ecKey, certsource.CertificateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	standards := certsource.AuthRequest{TokenEndpoint: m.TokenEndpoint, SigningAlgs: m.TokenEndpointAuthSigningAlgValuesSupported, FreshAssertion: true}
	for _, tc := range []struct {
		name    string
		client  oidcprovidertest.Client
		cred    *certsource.Certificate
		algs    []string
		wantAlg string
	}{
		{"RSA certificate", p.Clients().RSAKey, rsaCred, m.TokenEndpointAuthSigningAlgValuesSupported, "PS256"},
		{"RSA certificate, RS256 only", p.Clients().RSAKey, rsaCred, []string{"RS256"}, "RS256"},
		{"EC certificate", p.Clients().ECKey, ecCred, m.TokenEndpointAuthSigningAlgValuesSupported, "ES256"},
		{"bare EC key", p.Clients().ECKey, bareEC, m.TokenEndpointAuthSigningAlgValuesSupported, "ES256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cred.KeyID() != tc.client.KeyID {
				t.Fatalf("kid %s, registered %s", tc.cred.KeyID(), tc.client.KeyID)
			}
			req := standards
			req.ClientID, req.SigningAlgs, req.Now = tc.client.ID, tc.algs, time.Now()
			for i := 0; i < 2; i++ { // a fresh jti each time: both accepted
				tr, auth := clientCredentials(t, p, tc.client.ID, tc.cred, req, certsource.SecretPost)
				if tr.Status != http.StatusOK || auth.AssertionAlg != tc.wantAlg || tr.Scope != "todo.write" {
					t.Fatalf("request %d: %+v (alg %s)", i+1, tr, auth.AssertionAlg)
				}
				if at := claimsOf(t, tr.AccessToken); at["client_id"] != tc.client.ID || at["aud"] != oidcprovidertest.ResourceTodo {
					t.Fatalf("access token %v", at)
				}
			}
		})
	}
	t.Run("reused assertion refused", func(t *testing.T) {
		// Entra's optimisation (zero FreshAssertion) is what standards
		// providers refuse: the second use of a jti is invalid_client.
		cred, _ := certsource.ParsePEM(certificatePEM(t, ecKey), certsource.CertificateOptions{})
		req := certsource.AuthRequest{ClientID: oidcprovidertest.ClientECKeyID, TokenEndpoint: m.TokenEndpoint, Now: time.Now()}
		first, a := clientCredentials(t, p, req.ClientID, cred, req, certsource.SecretPost)
		second, b := clientCredentials(t, p, req.ClientID, cred, req, certsource.SecretPost)
		if first.Status != http.StatusOK || a.ClientAssertion != b.ClientAssertion ||
			second.Status != http.StatusUnauthorized || second.Error != "invalid_client" {
			t.Fatalf("first %+v, second %+v", first, second)
		}
	})
	t.Run("no common algorithm", func(t *testing.T) {
		_, err := bareEC.ClientAuth(context.Background(), certsource.AuthRequest{ClientID: oidcprovidertest.ClientECKeyID,
			TokenEndpoint: m.TokenEndpoint, Now: time.Now(), SigningAlgs: []string{"RS256", "PS256"}})
		if err == nil {
			t.Fatal("an EC key signed for a provider that takes RSA only")
		}
	})
}

// certsource's secrets reach oidc-provider both ways, form-urlencoded in the
// Basic header as RFC 6749 §2.3.1 asks (the secrets hold ' ', ':', '+', '/',
// '%', '&' and '='). oidc-provider takes either method whichever the
// client registered; a wrong secret is refused both ways.
func TestCertsourceSecretsAtOIDCProvider(t *testing.T) {
	p := oidcprovidertest.Start(t, oidcprovidertest.Options{})
	if method, ok := certsource.SecretMethodFor(p.Metadata().TokenEndpointAuthMethodsSupported); !ok || method != certsource.SecretPost {
		t.Fatalf("SecretMethodFor(%v) = %v %v", p.Metadata().TokenEndpointAuthMethodsSupported, method, ok)
	}
	for _, c := range []oidcprovidertest.Client{p.Clients().SecretBasic, p.Clients().SecretPost} {
		for _, m := range []certsource.SecretMethod{certsource.SecretBasic, certsource.SecretPost} {
			for _, secret := range []string{c.Secret, c.Secret + "x"} {
				cred, err := certsource.NewSecret(secret)
				if err != nil {
					t.Fatal(err)
				}
				tr, _ := clientCredentials(t, p, c.ID, cred, certsource.AuthRequest{ClientID: c.ID, Now: time.Now()}, m)
				if want := secret == c.Secret; (tr.Status == http.StatusOK) != want || (!want && tr.Error != "invalid_client") {
					t.Errorf("%s sent as %s (right secret %v): %d %s", c.ID, m, want, tr.Status, tr.Error)
				}
			}
		}
	}
}
