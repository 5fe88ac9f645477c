package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs devidp with args until the test ends and returns its base URL.
func start(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), out, ready) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	select {
	case base := <-ready:
		return base, out
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("devidp did not start")
	}
	return "", nil
}

func discovery(t *testing.T, c *http.Client, base string) map[string]any {
	t.Helper()
	resp, err := c.Get(base + "/" + identitywebtest.DefaultTenantID + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestStartsWithNoFlags(t *testing.T) {
	base, out := start(t)
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("base = %s", base)
	}
	text := out.String()
	for _, want := range []string{
		"issuer:     " + base + "/" + identitywebtest.DefaultTenantID + "/v2.0",
		identitywebtest.WebAppClientID, identitywebtest.WebAPIClientID, identitywebtest.DaemonClientID,
		identitywebtest.AliceUsername, identitywebtest.BobUsername, identitywebtest.WebAPIIdentifierURI,
	} {
		if !strings.Contains(text, want) {
			t.Fatalf("summary lacks %q:\n%s", want, text)
		}
	}
	if m := discovery(t, http.DefaultClient, base); m["issuer"] != base+"/"+identitywebtest.DefaultTenantID+"/v2.0" {
		t.Fatalf("issuer = %v", m["issuer"])
	}
}

func TestHTTPSWritesCertificate(t *testing.T) {
	certPath := filepath.Join(t.TempDir(), "idp.pem")
	base, _ := start(t, "-https", "-cert-out", certPath)
	pemBytes, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatalf("certificate not written: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("certificate file is not PEM")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if m := discovery(t, c, base); !strings.HasPrefix(m["token_endpoint"].(string), "https://") {
		t.Fatalf("token_endpoint = %v", m["token_endpoint"])
	}
	// A client that does not trust the file is refused.
	if _, err := http.Get(base + "/"); err == nil {
		t.Fatal("untrusted client connected")
	}
}

func TestConfigFlag(t *testing.T) {
	cfg := identitywebtest.DefaultConfig()
	cfg.Tenants[0].Name = "Custom tenant"
	b, _ := json.Marshal(cfg)
	path := filepath.Join(t.TempDir(), "tenants.json")
	os.WriteFile(path, b, 0o600)
	_, out := start(t, "-config", path)
	if !strings.Contains(out.String(), "Custom tenant") {
		t.Fatalf("config not used:\n%s", out)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"extra"}, {"-config", "/does/not/exist.json"}, {"-addr", "256.0.0.1:1"}} {
		var out bytes.Buffer
		if err := run(context.Background(), args, &out, nil); err == nil {
			t.Fatalf("run(%v) succeeded", args)
		}
	}
}
