package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-identityweb/identityweb/identitywebtest"
)

// TestSignInAndOut drives the sample as a browser would: the provider signs
// Alice in automatically (-auto-signin), so following redirects is enough.
func TestSignInAndOut(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		done <- run(ctx, []string{"-addr", "localhost:0", "-auto-signin", identitywebtest.AliceUsername}, &out, ready)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	var appURL string
	select {
	case appURL = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("sample did not start")
	}
	jar, _ := cookiejar.New(nil)
	// The provider's certificate is self-signed and trusted only by the app:
	// the test's browser skips verification for that one host, on loopback.
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: insecureLoopbackTransport()}
	get := func(u string) string {
		resp, err := browser.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
		}
		return string(b)
	}
	if page := get(appURL + "/"); !strings.Contains(page, `id="signin"`) {
		t.Fatalf("home page before sign-in:\n%s", page)
	}
	page := get(appURL + "/signin")
	if !strings.Contains(page, "Hello, Alice Example!") || !strings.Contains(page, identitywebtest.AliceUsername) {
		t.Fatalf("home page after sign-in:\n%s", page)
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if csrf == nil {
		t.Fatal("no CSRF token on the page")
	}
	// Sign-out without the CSRF token is refused.
	resp, err := browser.PostForm(appURL+"/signout", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("sign-out without CSRF: %d", resp.StatusCode)
	}
	resp, err = browser.PostForm(appURL+"/signout", url.Values{"csrf": {csrf[1]}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `id="signin"`) {
		t.Fatalf("after sign-out:\n%s", b)
	}
	if !strings.Contains(out.String(), "Open "+appURL) {
		t.Fatalf("output: %s", out.String())
	}
}

func TestCallbackRejectsForgedState(t *testing.T) {
	idp, err := startIdP("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer idp.server.Close()
	a, err := newApp(context.Background(), "http://localhost:5000", idp.url, idp.client)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{header: http.Header{}}
	r, _ := http.NewRequest(http.MethodGet, "http://localhost:5000/signin-oidc?state=forged&code=x", nil)
	a.routes().ServeHTTP(rec, r)
	if rec.status != http.StatusBadRequest {
		t.Fatalf("forged state: %d", rec.status)
	}
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(s int)           { r.status = s }
