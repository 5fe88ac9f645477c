package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/internal/redistest"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// start runs the sample on free ports until the test ends and returns its
// URL and output.
func start(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	out := &syncBuffer{}
	go func() {
		done <- run(ctx, append([]string{"-addr", "localhost:0", "-idp-addr", "localhost:0"}, args...), out, ready)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	select {
	case u := <-ready:
		return u, out
	case err := <-done:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("the sample did not start")
	}
	return "", nil
}

// browser is a person with a browser, signing in as Alice on the
// development provider's pages.
func browser(t *testing.T) *identitywebtest.Browser {
	b := identitywebtest.NewBrowser(nil)
	b.Username = identitywebtest.AliceUsername
	return b
}

var reCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// page opens path and fails unless it answers status with every want.
func page(t *testing.T, b *identitywebtest.Browser, method, target string, form url.Values, status int, want ...string) string {
	t.Helper()
	var resp *http.Response
	var body string
	var err error
	if method == http.MethodPost {
		resp, body, err = b.PostForm(target, form)
	} else {
		resp, body, err = b.Get(target)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d\n%s", method, target, resp.StatusCode, status, body)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Fatalf("%s %s lacks %q:\n%s", method, target, w, body)
		}
	}
	return body
}

// TestSampleFlow drives the sample as a person would, through the
// development provider's sign-in and consent pages.
func TestSampleFlow(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	sampleFlow(t, false)
}

// With REDIS_URL the sample keeps tokens in L1 + encrypted Redis.
func TestSampleFlowWithRedis(t *testing.T) {
	srv := redistest.Start(t)
	t.Setenv("REDIS_URL", "redis://"+srv.Addr+"/0")
	t.Setenv("IDWEB_CACHE_KEYS", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	sampleFlow(t, true)
	// Tokens were written to Redis during the run (the sign-in at least)…
	info, _ := redistest.Do(srv.Addr, "INFO", "commandstats")
	if !strings.Contains(info, "cmdstat_set:") || !strings.Contains(info, "cmdstat_del:") {
		t.Fatalf("the sample did not write tokens to Redis:\n%s", info)
	}
	// …and sign-out removed every token of the user from L2, including
	// those of the partition replaced at the consent step.
	if keys, err := redistest.Do(srv.Addr, "KEYS", "identityweb-sample:k:*"); err != nil || keys != "" {
		t.Fatalf("token entries left in Redis after sign-out: %q %v", keys, err)
	}
}

func sampleFlow(t *testing.T, redis bool) {
	t.Setenv("AzureAd__ClientId", "")
	t.Setenv("AZURE_CLIENT_ID", "")
	appURL, out := start(t)
	b := browser(t)
	page(t, b, "GET", appURL+"/", nil, 200, `id="sign-in-button"`)
	// The token redeemed at sign-in is in L1 already: the page does not
	// invite a reload to see it, and says what the hit cost: not timed with
	// the in-memory cache (rather than zeros that read as "not measured"),
	// timed through the tiered cache over Redis.
	me := page(t, b, "GET", appURL+"/me", nil, 200, "Hello, Alice Example", identitywebtest.AliceUsername,
		`class="md-source">cache`, `class="md-level">l1`, `id="sign-out"`)
	cost := regexp.MustCompile(`class="md-cost">([^<]*)<`).FindStringSubmatch(me)
	switch {
	case strings.Contains(me, `id="reload-hint"`), cost == nil,
		!redis && cost[1] != "L1 cache hit: sub-microsecond, not timed",
		redis && (strings.HasPrefix(cost[1], "0s") || !strings.HasSuffix(cost[1], "no HTTP call")):
		t.Fatalf("profile from L1:\n%s", me)
	}
	if len(b.ConsentShown) != 1 || b.ConsentShown[0] != readScope {
		t.Fatalf("consent at sign-in: %v", b.ConsentShown)
	}
	// Dates carry the day and the zone.
	if !regexp.MustCompile(`class="md-expires">\w{3} \d{1,2} \w{3} \d{4}, \d\d:\d\d:\d\d \S+<`).MatchString(me) {
		t.Fatalf("expiry without date or zone:\n%s", me)
	}
	// Todo.ReadWrite is not granted yet: the page offers it, once.
	todos := page(t, b, "GET", appURL+"/todos", nil, 200, "No todos yet.", `id="allow-write"`, "one more permission")
	if strings.Contains(todos, `id="todo-form"`) || strings.Count(todos, "Add todos") != 1 {
		t.Fatalf("todos before consent:\n%s", todos)
	}
	// Incremental consent: the provider asks for the one new scope.
	todos = page(t, b, "GET", appURL+"/todos/write", nil, 200, `id="write-granted"`, `id="todo-form"`, `placeholder="What needs doing?"`, "Token for adding")
	if len(b.ConsentShown) != 1 || b.ConsentShown[0] != writeScope {
		t.Fatalf("incremental consent: %v", b.ConsentShown)
	}
	if strings.Contains(todos, "one more permission") || strings.Contains(todos, `value="Try`) {
		t.Fatalf("todos after consent:\n%s", todos)
	}
	csrf := reCSRF.FindStringSubmatch(todos)[1]
	todos = page(t, b, "POST", appURL+"/todos/write", url.Values{"csrf": {csrf}, "text": {"ship it"}}, 200, "<li>ship it</li>", `id="todo-form"`)
	if strings.Contains(todos, `id="write-granted"`) || strings.Contains(todos, "one more permission") {
		t.Fatalf("todos after adding:\n%s", todos)
	}
	home := page(t, b, "POST", appURL+"/signout", url.Values{"csrf": {csrf}}, 200, `id="sign-in-button"`, `id="signed-out"`, "You are signed out")
	if strings.Contains(home, "You are signed in") {
		t.Fatalf("after sign-out:\n%s", home)
	}
	// A reload of the home page later is just the home page.
	if home := page(t, b, "GET", appURL+"/", nil, 200); strings.Contains(home, `id="signed-out"`) {
		t.Fatalf("the signed-out message outlives the redirect:\n%s", home)
	}
	if !strings.Contains(out.String(), "Open "+appURL+"/") || !strings.Contains(out.String(), "Development identity provider: http://localhost:") {
		t.Fatalf("output: %s", out)
	}
}

// With -idp-https the provider serves HTTPS with a certificate the app
// trusts; a browser that trusts it too signs in as before.
func TestProviderOverHTTPS(t *testing.T) {
	appURL, s := startSite(t, true)
	if !strings.HasPrefix(s.idp.URL, "https://localhost:") {
		t.Fatalf("provider URL %s", s.idp.URL)
	}
	b := identitywebtest.NewBrowser(s.idp.Client())
	b.Username = identitywebtest.AliceUsername
	page(t, b, "GET", appURL+"/me", nil, 200, "Hello, Alice Example")
}

// startSite serves the site on a free port until the test ends, for tests
// that reach into its provider.
func startSite(t *testing.T, idpHTTPS bool) (string, *site) {
	t.Helper()
	t.Setenv("REDIS_URL", "")
	t.Setenv("AzureAd__ClientId", "")
	t.Setenv("AZURE_CLIENT_ID", "")
	ln, err := net.Listen("tcp", "localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	appURL := "http://" + ln.Addr().String()
	s, err := newSite(siteOptions{appURL: appURL, idpAddr: "localhost:0", idpHTTPS: idpHTTPS, logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s.handler}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); s.close() })
	return appURL, s
}

// Every way a sign-in can end badly lands on the sample's own page, in its
// style, with the library's safe message and a way back that works.
func TestSignInErrorPages(t *testing.T) {
	appURL, s := startSite(t, false)
	layout := `<strong>identityweb sample</strong>`

	// The provider down when the sign-in starts (another site: this one
	// keeps the provider's metadata once read).
	downURL, down := startSite(t, false)
	down.idp.SetOutage(true)
	page(t, browser(t), "GET", downURL+"/me", nil, 503, layout, "Sign-in is unavailable right now.", "You are not signed in.", `id="error-back"`)

	// Consent cancelled at sign-in: not signed in, offered to sign in again.
	b := browser(t)
	b.DeclineConsent = true
	page(t, b, "GET", appURL+"/me", nil, 403, layout, `id="error-title">Sign-in was cancelled.`, "You are not signed in.",
		`id="error-back" href="/signin?returnUrl=/me"`)

	// The code cannot be redeemed (the provider throttles).
	b.DeclineConsent = false
	s.idp.FailNext(1, identitywebtest.Fault{Status: 503, RetryAfter: time.Minute})
	page(t, b, "GET", appURL+"/me", nil, 503, layout, "Sign-in could not be completed. Try again.", "You are not signed in.")

	// Signed in, consent to a new scope cancelled: still signed in, back to
	// a page that works.
	page(t, b, "GET", appURL+"/me", nil, 200, "Hello, Alice Example")
	b.DeclineConsent = true
	page(t, b, "GET", appURL+"/todos/write", nil, 403, layout, "Sign-in was cancelled.",
		"You are still signed in as Alice Example", `id="error-back" href="/todos"`)
	page(t, b, "GET", appURL+"/todos", nil, 200, "No todos yet.", `id="allow-write"`)

	// An expired or replayed sign-in answer.
	page(t, b, "GET", appURL+"/signin-oidc?state=unknown&code=x", nil, 400, layout, "This sign-in link has expired or was already used.")

	// The provider answering with an error (here: a server error) rather
	// than a code, for a sign-in the app started.
	nb := browser(t)
	resp, err := nb.Client.Get(appURL + "/signin?returnUrl=/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	authorize, _ := url.Parse(resp.Header.Get("Location"))
	state := authorize.Query().Get("state")
	if state == "" {
		t.Fatalf("sign-in redirect: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	page(t, nb, "GET", appURL+"/signin-oidc?"+url.Values{"state": {state}, "error": {"server_error"}, "error_description": {"AADSTS90033: down"}}.Encode(),
		nil, 401, layout, "The identity provider could not sign you in.", `id="error-back"`)
}

// A port in use gets a message that says so and what to do.
func TestPortInUse(t *testing.T) {
	t.Setenv("AzureAd__ClientId", "")
	t.Setenv("AZURE_CLIENT_ID", "")
	ln, err := net.Listen("tcp", "localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()
	var out bytes.Buffer
	err = run(context.Background(), []string{"-addr", taken}, &out, nil)
	if err == nil || !strings.Contains(err.Error(), taken+" is in use") || !strings.Contains(err.Error(), "-addr localhost:PORT") {
		t.Fatalf("app port in use: %v", err)
	}
	err = run(context.Background(), []string{"-addr", "localhost:0", "-idp-addr", taken}, &out, nil)
	if err == nil || !strings.Contains(err.Error(), taken+" is in use") || !strings.Contains(err.Error(), "-idp-addr localhost:PORT") {
		t.Fatalf("provider port in use: %v", err)
	}
}
