package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestDaemon(t *testing.T) {
	t.Setenv("AzureAd__ClientId", "")
	t.Setenv("AZURE_CLIENT_ID", "")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-n", "3"}, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"token 1: source=identity_provider level=none reason=no_cached_token",
		"token 3: source=cache level=l1 reason=not_applicable cost=L1 hit (sub-microsecond, not timed) expires=",
		"identityweb.token.acquisitions",
		"identityweb.idp.requests grant=client_credentials,outcome=success = 1",
	} {
		if !strings.Contains(text, want) {
			t.Fatalf("output lacks %q:\n%s", want, text)
		}
	}
}
