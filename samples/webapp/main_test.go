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

// start runs the sample until the test ends and returns its URL.
func start(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	out := &syncBuffer{}
	go func() { done <- run(ctx, append([]string{"-addr", "localhost:0"}, args...), out, ready) }()
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

var reCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestSampleFlow drives the sample as a person would, with the provider
// signing Alice in and consenting by itself (-auto-signin).
func TestSampleFlow(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	sampleFlow(t)
}

// With REDIS_URL the sample keeps tokens in L1 + encrypted Redis.
func TestSampleFlowWithRedis(t *testing.T) {
	srv := redistest.Start(t)
	t.Setenv("REDIS_URL", "redis://"+srv.Addr+"/0")
	t.Setenv("IDWEB_CACHE_KEYS", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	sampleFlow(t)
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

func sampleFlow(t *testing.T) {
	appURL, out := start(t, "-auto-signin", identitywebtest.AliceUsername)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Transport: insecureLoopbackTransport(), Timeout: 30 * time.Second}
	get := func(path string) string {
		resp, err := browser.Get(appURL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	if page := get("/"); !strings.Contains(page, `id="sign-in-button"`) {
		t.Fatalf("home before sign-in:\n%s", page)
	}
	me := get("/me")
	for _, want := range []string{"Hello, Alice Example", identitywebtest.AliceUsername, `id="md-source">cache`, `id="sign-out"`} {
		if !strings.Contains(me, want) {
			t.Fatalf("profile lacks %q:\n%s", want, me)
		}
	}
	if page := get("/todos"); !strings.Contains(page, "No todos yet.") {
		t.Fatalf("todos:\n%s", page)
	}
	write := get("/todos/write") // incremental consent on the way
	if !strings.Contains(write, `id="write-granted"`) {
		t.Fatalf("write page:\n%s", write)
	}
	csrf := reCSRF.FindStringSubmatch(write)[1]
	resp, err := browser.PostForm(appURL+"/todos/write", url.Values{"csrf": {csrf}, "text": {"ship it"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "<li>ship it</li>") {
		t.Fatalf("after adding:\n%s", b)
	}
	resp, err = browser.PostForm(appURL+"/signout", url.Values{"csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `id="sign-in-button"`) {
		t.Fatalf("after sign-out:\n%s", b)
	}
	if !strings.Contains(out.String(), "Open "+appURL) {
		t.Fatalf("output: %s", out)
	}
}
