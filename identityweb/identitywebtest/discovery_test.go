package identitywebtest_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

func TestDiscoveryWithGoOIDC(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{})
	for _, seg := range []string{tenant, iwt.DefaultTenantDomain} {
		t.Run(seg, func(t *testing.T) {
			ctx := ctxFor(s)
			// Entra's issuer is always the tenant id; discovery by domain
			// still names it, which go-oidc accepts with the issuer override.
			if seg != tenant {
				ctx = oidc.InsecureIssuerURLContext(ctx, s.Issuer(tenant))
			}
			p, err := oidc.NewProvider(ctx, s.URL+"/"+seg+"/v2.0")
			if err != nil {
				t.Fatalf("oidc.NewProvider: %v", err)
			}
			if p.Endpoint().TokenURL != s.TokenEndpoint(seg) || p.Endpoint().AuthURL != s.AuthorizeEndpoint(seg) {
				t.Fatalf("endpoints = %+v", p.Endpoint())
			}
			var meta struct {
				Issuer     string   `json:"issuer"`
				JWKS       string   `json:"jwks_uri"`
				EndSession string   `json:"end_session_endpoint"`
				Auth       []string `json:"token_endpoint_auth_methods_supported"`
			}
			if err := p.Claims(&meta); err != nil {
				t.Fatal(err)
			}
			if meta.Issuer != s.Issuer(tenant) || meta.JWKS != s.URL+"/"+seg+"/discovery/v2.0/keys" || meta.EndSession == "" || len(meta.Auth) != 3 {
				t.Fatalf("metadata = %+v", meta)
			}
		})
	}
}

func TestCommonPublishesIssuerTemplate(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{})
	for _, seg := range []string{"common", "organizations"} {
		resp, err := s.Client().Get(s.URL + "/" + seg + "/v2.0/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		var meta map[string]any
		json.NewDecoder(resp.Body).Decode(&meta)
		resp.Body.Close()
		if meta["issuer"] != s.URL+"/{tenantid}/v2.0" {
			t.Fatalf("%s issuer = %v", seg, meta["issuer"])
		}
	}
	// Tokens issued through common carry the user's tenant in iss and tid.
	tok := signInAt(t, s, "common", iwt.AliceUsername)
	c := claimsOf(t, tok.Extra("id_token").(string))
	if c["iss"] != s.Issuer(tenant) || c["tid"] != tenant {
		t.Fatalf("id token via common: iss=%v tid=%v", c["iss"], c["tid"])
	}
}

func TestUnknownTenant(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{})
	resp, err := s.Client().Get(s.URL + "/not-a-tenant/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	code, body := postToken(t, s, "not-a-tenant", nil)
	if code != http.StatusBadRequest || aadsts(body) != iwt.CodeTenantNotFound {
		t.Fatalf("token at unknown tenant = %d %v", code, body)
	}
}

func TestSigningKeyRotation(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{})
	ctx := ctxFor(s)
	p, err := oidc.NewProvider(ctx, s.Issuer(tenant))
	if err != nil {
		t.Fatal(err)
	}
	verifier := p.Verifier(&oidc.Config{ClientID: iwt.WebAppClientID})
	before := signIn(t, s, iwt.AliceUsername)
	oldKid := s.SigningKeyIDs()[0]

	newKid, err := s.RotateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	if ids := s.SigningKeyIDs(); len(ids) != 2 || ids[0] != newKid || ids[1] != oldKid {
		t.Fatalf("kids after rotation = %v", ids)
	}
	after := signIn(t, s, iwt.AliceUsername)
	if h := headerOf(t, after.Extra("id_token").(string)); h["kid"] != newKid || h["x5t"] != newKid || h["alg"] != "RS256" {
		t.Fatalf("new token header = %v", h)
	}
	// go-oidc fetches the JWKS again for the unknown kid and verifies both.
	for _, tok := range []string{before.Extra("id_token").(string), after.Extra("id_token").(string)} {
		if _, err := verifier.Verify(ctx, tok); err != nil {
			t.Fatalf("Verify after rotation: %v", err)
		}
	}
	if !s.RetireSigningKey(oldKid) || s.RetireSigningKey(newKid) {
		t.Fatal("RetireSigningKey: want old retired, current refused")
	}
	// A fresh verifier (empty key cache) no longer accepts the old key.
	p2, _ := oidc.NewProvider(ctx, s.Issuer(tenant))
	if _, err := p2.Verifier(&oidc.Config{ClientID: iwt.WebAppClientID}).Verify(ctx, before.Extra("id_token").(string)); err == nil {
		t.Fatal("token signed by a retired key still verifies")
	}
}

func TestJWKSShape(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{})
	resp, err := s.Client().Get(s.URL + "/" + tenant + "/discovery/v2.0/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 {
		t.Fatalf("keys = %d", len(set.Keys))
	}
	k := set.Keys[0]
	for _, f := range []string{"kty", "use", "kid", "x5t", "n", "e", "x5c"} {
		if k[f] == nil {
			t.Fatalf("key lacks %q: %v", f, k)
		}
	}
	if k["kty"] != "RSA" || k["use"] != "sig" || k["kid"] != k["x5t"] {
		t.Fatalf("key = %v", k)
	}
}
