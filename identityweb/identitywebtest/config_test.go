package identitywebtest_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

func TestDefaultConfigRoundTrips(t *testing.T) {
	cfg := iwt.DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "idp.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	back, err := iwt.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Tenants) != 1 || len(back.Tenants[0].Clients) != 3 || len(back.Tenants[0].Users) != 2 {
		t.Fatalf("loaded = %+v", back)
	}
}

func TestConfigValidation(t *testing.T) {
	cases := map[string]string{
		"unknown field":      `{"tenants":[{"id":"c0ffee00-0000-4000-8000-000000000001","bogus":1}]}`,
		"no tenants":         `{"tenants":[]}`,
		"tenant id not GUID": `{"tenants":[{"id":"contoso"}]}`,
		"reserved domain":    `{"tenants":[{"id":"c0ffee00-0000-4000-8000-000000000001","domain":"common"}]}`,
		"client id not GUID": `{"tenants":[{"id":"c0ffee00-0000-4000-8000-000000000001","clients":[{"clientId":"app"}]}]}`,
		"duplicate client":   `{"tenants":[{"id":"c0ffee00-0000-4000-8000-000000000001","clients":[{"clientId":"11111111-0000-4000-8000-000000000001"},{"clientId":"11111111-0000-4000-8000-000000000001"}]}]}`,
		"bad certificate":    `{"tenants":[{"id":"c0ffee00-0000-4000-8000-000000000001","clients":[{"clientId":"11111111-0000-4000-8000-000000000001","certificates":["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]}]}]}`,
		"scope with a slash": `{"tenants":[{"id":"c0ffee00-0000-4000-8000-000000000001","clients":[{"clientId":"11111111-0000-4000-8000-000000000001","scopes":["a/b"]}]}]}`,
		"user without name":  `{"tenants":[{"id":"c0ffee00-0000-4000-8000-000000000001","users":[{"objectId":"a11ce000-0000-4000-8000-00000000000a"}]}]}`,
		"duplicate user":     `{"tenants":[{"id":"c0ffee00-0000-4000-8000-000000000001","users":[{"objectId":"a11ce000-0000-4000-8000-00000000000a","username":"a"},{"objectId":"a11ce000-0000-4000-8000-00000000000b","username":"A"}]}]}`,
		"graph id reserved":  `{"tenants":[{"id":"c0ffee00-0000-4000-8000-000000000001","clients":[{"clientId":"00000003-0000-0000-c000-000000000000"}]}]}`,
		"not JSON":           `tenants:`,
	}
	for name, js := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := iwt.ParseConfig([]byte(js))
			if err == nil || !strings.HasPrefix(err.Error(), "identitywebtest: ") {
				t.Fatalf("ParseConfig = %v, want a named error", err)
			}
		})
	}
	if _, err := iwt.NewProvider(iwt.Options{Config: &iwt.Config{}}); err == nil {
		t.Fatal("NewProvider accepted an empty config")
	}
}

func TestCertificateInConfig(t *testing.T) {
	a, _ := testCerts(t)
	cfg := iwt.DefaultConfig()
	cfg.Tenants[0].Clients[2].Certificates = []string{a.CertificatePEM()}
	s := iwt.NewServer(t, iwt.Options{Config: cfg})
	tok, err := assertionToken(s, assertion(t, a, assertionOpts{aud: s.TokenEndpoint(tenant), iss: iwt.DaemonClientID, sub: iwt.DaemonClientID}))
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("certificate from config: %v", err)
	}
	if !strings.Contains(a.KeyPEM(), "PRIVATE KEY") {
		t.Fatal("KeyPEM")
	}
}

// A multi-tenant app signs in a user of a second tenant through "common";
// a single-tenant app refuses them.
func TestMultiTenant(t *testing.T) {
	cfg := iwt.DefaultConfig()
	cfg.Tenants[0].Clients[0].MultiTenant = true
	cfg.Tenants[0].Clients[1].RedirectURIs = []string{appRedir}
	const fabrikam = "fab00000-0000-4000-8000-000000000002"
	cfg.Tenants = append(cfg.Tenants, iwt.Tenant{ID: fabrikam, Domain: "fabrikam.onmicrosoft.com", Name: "Fabrikam",
		Users: []iwt.User{{ObjectID: "d0000000-0000-4000-8000-00000000000d", Username: "dave@fabrikam.onmicrosoft.com", Name: "Dave"}}})
	s := iwt.NewServer(t, iwt.Options{Config: cfg})
	tok := signInAt(t, s, "common", "dave@fabrikam.onmicrosoft.com", "User.Read")
	c := claimsOf(t, tok.Extra("id_token").(string))
	if c["tid"] != fabrikam || c["iss"] != s.Issuer(fabrikam) {
		t.Fatalf("claims = %v", c)
	}
	// Single-tenant web API app: Dave cannot sign in to it.
	conf := webAppAt(s, "common")
	conf.ClientID, conf.ClientSecret = iwt.WebAPIClientID, iwt.WebAPISecret
	_, err := s.NewBrowser().SignIn(conf.AuthCodeURL("s"), "dave@fabrikam.onmicrosoft.com", "", true)
	if err == nil || !strings.Contains(err.Error(), "AADSTS50020") {
		t.Fatalf("foreign user into a single-tenant app: %v", err)
	}
}
