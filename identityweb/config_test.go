package identityweb_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/identityweb/go-identityweb/identityweb"
)

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name  string
		cfg   identityweb.Config
		field string
	}{
		{"no client id", identityweb.Config{TenantID: "t", ClientSecret: "s"}, "ClientId"},
		{"no tenant", identityweb.Config{ClientID: "c", ClientSecret: "s"}, "TenantId"},
		{"tenant with slash", identityweb.Config{ClientID: "c", TenantID: "a/b", ClientSecret: "s"}, "TenantId"},
		{"http instance", identityweb.Config{Instance: "http://login.example/", ClientID: "c", TenantID: "t", ClientSecret: "s"}, "Instance"},
		{"bad authority", identityweb.Config{Authority: "not a url", ClientID: "c", ClientSecret: "s"}, "Authority"},
		{"bad OBO grant", identityweb.Config{ClientID: "c", TenantID: "t", ClientSecret: "s", OnBehalfOfGrant: "magic"}, "OnBehalfOfGrant"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := identityweb.NewTokenAcquirer(tc.cfg, identityweb.Options{})
			if !errors.Is(err, identityweb.ErrConfig) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("err = %v, want a config error naming %s", err, tc.field)
			}
		})
	}
	// No credential: the acquirer builds (a web API may only validate
	// tokens) and acquisition fails with ErrConfig naming the setting.
	a, err := identityweb.NewTokenAcquirer(identityweb.Config{ClientID: "c", TenantID: "t"}, identityweb.Options{})
	if err != nil {
		t.Fatalf("no credential: %v", err)
	}
	if _, err := a.ForApp(t.Context(), "api://x/.default"); !errors.Is(err, identityweb.ErrConfig) || !strings.Contains(err.Error(), "ClientCredentials") {
		t.Fatalf("acquisition without a credential: %v", err)
	}
	// Loopback http is allowed (development providers), as is the default instance.
	for _, cfg := range []identityweb.Config{
		{ClientID: "c", TenantID: "t", ClientSecret: "s"},
		{Instance: "http://127.0.0.1:5050", ClientID: "c", TenantID: "t", ClientSecret: "s"},
		{Authority: "http://localhost:5050/t/v2.0", ClientID: "c", ClientSecret: "s"},
	} {
		if _, err := identityweb.NewTokenAcquirer(cfg, identityweb.Options{}); err != nil {
			t.Fatalf("%+v: %v", cfg, err)
		}
	}
}

func TestOAuthErrorMessageAndMatching(t *testing.T) {
	e := &identityweb.OAuthError{StatusCode: 400, Code: "invalid_grant", ErrorCodes: []int{65001},
		Description: "AADSTS65001: The user has not consented. Trace ID: x Correlation ID: y", CorrelationID: "y"}
	msg := e.Error()
	if !strings.Contains(msg, "invalid_grant") || !strings.Contains(msg, "AADSTS65001") || strings.Contains(msg, "Trace ID") || !strings.HasPrefix(msg, "identityweb: ") {
		t.Fatalf("message = %q", msg)
	}
	if errors.Is(e, identityweb.ErrInteractionRequired) {
		t.Fatal("invalid_grant outside a user flow matched ErrInteractionRequired")
	}
	for _, code := range []string{"interaction_required", "consent_required", "login_required"} {
		if !errors.Is(&identityweb.OAuthError{Code: code}, identityweb.ErrInteractionRequired) {
			t.Fatalf("%s does not match ErrInteractionRequired", code)
		}
	}
	if !errors.Is(&identityweb.OAuthError{Code: "invalid_client"}, identityweb.ErrInvalidClient) {
		t.Fatal("invalid_client does not match ErrInvalidClient")
	}
}
