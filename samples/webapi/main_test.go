package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/identityweb"
	"github.com/identityweb/go-identityweb/identityweb/identitywebtest"
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

// start runs the sample on free ports until the test ends.
func start(t *testing.T, args ...string) (started, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan started, 1)
	done := make(chan error, 1)
	out := &syncBuffer{}
	go func() {
		done <- run(ctx, append([]string{"-addr", "localhost:0", "-idp-addr", "localhost:0"}, args...), out, ready)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	select {
	case s := <-ready:
		return s, out
	case err := <-done:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("did not start")
	}
	return started{}, nil
}

func noEntra(t *testing.T) {
	for _, k := range []string{"AzureAd__ClientId", "AZURE_CLIENT_ID", "AzureAd__Instance", "AzureAd__TenantId", "AZURE_TENANT_ID",
		"AzureAd__ClientSecret", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "GRAPH_URL"} {
		t.Setenv(k, "")
	}
}

func call(t *testing.T, base, path, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The commands the sample prints, run by sh exactly as printed, get an app
// token and a user token from the development provider and call the
// routes: /todos answers 200 to both, /profile (OBO) to the user.
func TestPrintedCommands(t *testing.T) {
	noEntra(t)
	sh, err := exec.LookPath("sh")
	if err == nil {
		_, err = exec.LookPath("curl")
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("sh and curl are needed: %v", err)
		}
		t.Skipf("sh and curl are needed: %v", err)
	}
	s, out := start(t)
	printed := out.String()
	from, to := strings.Index(printed, "Try it:"), strings.Index(printed, "Press Ctrl+C to stop.")
	if from < 0 || to < from {
		t.Fatalf("no commands printed:\n%s", printed)
	}
	script := printed[strings.Index(printed[from:], "\n")+from+1 : to]
	for _, want := range []string{"grant_type=client_credentials", "grant_type=password", s.url + "/todos", s.url + "/profile", s.idp.URL + "/"} {
		if !strings.Contains(script, want) {
			t.Fatalf("the commands lack %q:\n%s", want, script)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(sh, "-c", script)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sh -c: %v\n%s\n%s\nthe script:\n%s", err, stdout.String(), stderr.String(), script)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("output of the commands:\n%s\n%s", stdout.String(), stderr.String())
	}
	var app, user, profile map[string]any
	for _, c := range []struct {
		body, status string
		into         *map[string]any
	}{{lines[0], lines[1], &app}, {lines[2], lines[3], &user}, {lines[4], lines[5], &profile}} {
		if c.status != "HTTP 200" || json.Unmarshal([]byte(c.body), c.into) != nil {
			t.Fatalf("output of the commands:\n%s", stdout.String())
		}
	}
	if app["caller"] != "app "+identitywebtest.DaemonClientID || user["caller"] != "Alice Example" || profile["displayName"] != "Alice Example" {
		t.Fatalf("callers: %v / %v / %v", app, user, profile)
	}
}

func TestWebAPI(t *testing.T) {
	noEntra(t)
	s, _ := start(t)
	user, _ := s.idp.MintUserToken(s.idp.URL, identitywebtest.AliceUsername, identitywebtest.WebAppClientID, identitywebtest.WebAPIIdentifierURI, "access_as_user")
	if code, body := call(t, s.url, "/todos", user); code != 200 || !strings.Contains(body, `"caller":"Alice Example"`) {
		t.Fatalf("/todos as a user: %d %s", code, body)
	}
	// The daemon, with client credentials, has the app role.
	daemon, _ := identityweb.NewTokenAcquirer(identityweb.Config{Instance: s.idp.URL + "/", TenantID: identitywebtest.DefaultTenantID,
		ClientID: identitywebtest.DaemonClientID, ClientSecret: identitywebtest.DaemonSecret}, identityweb.Options{HTTPClient: s.idp.Client()})
	defer daemon.Close()
	app, err := daemon.ForApp(context.Background(), identitywebtest.WebAPIIdentifierURI+"/.default")
	if err != nil {
		t.Fatal(err)
	}
	if code, body := call(t, s.url, "/todos", app.AccessToken); code != 200 || !strings.Contains(body, `"caller":"app `+identitywebtest.DaemonClientID) {
		t.Fatalf("/todos as the daemon: %d %s", code, body)
	}
	if code, _ := call(t, s.url, "/profile", app.AccessToken); code != 403 {
		t.Fatalf("/profile as an app: %d", code)
	}
	if code, body := call(t, s.url, "/profile", user); code != 200 || !strings.Contains(body, `"displayName":"Alice Example"`) {
		t.Fatalf("/profile (OBO): %d %s", code, body)
	}
	if code, _ := call(t, s.url, "/todos", ""); code != 401 {
		t.Fatalf("no token: %d", code)
	}
}

// Configured for a provider of its own (Entra settings) without a client
// credential, the API validates tokens; /profile says how to enable it.
// GRAPH_URL without a credential is refused at start, saying why.
func TestNoCredentialWithoutGraph(t *testing.T) {
	noEntra(t)
	idp, err := identitywebtest.StartLocal("localhost:0", identitywebtest.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	t.Setenv("AzureAd__Instance", idp.URL+"/")
	t.Setenv("AzureAd__TenantId", identitywebtest.DefaultTenantID)
	t.Setenv("AzureAd__ClientId", identitywebtest.WebAPIClientID)
	s, out := start(t)
	if s.idp != nil || !strings.Contains(out.String(), "GET /profile  answers 501 until you set GRAPH_URL") {
		t.Fatalf("output:\n%s", out)
	}
	user, _ := idp.MintUserToken(idp.URL, identitywebtest.AliceUsername, identitywebtest.WebAppClientID, identitywebtest.WebAPIIdentifierURI, "access_as_user")
	if code, body := call(t, s.url, "/todos", user); code != 200 || !strings.Contains(body, "Alice Example") {
		t.Fatalf("/todos: %d %s", code, body)
	}
	if code, body := call(t, s.url, "/profile", user); code != 501 || !strings.Contains(body, "set GRAPH_URL (https://graph.microsoft.com/v1.0") {
		t.Fatalf("/profile: %d %s", code, body)
	}

	t.Setenv("GRAPH_URL", "https://graph.microsoft.com/v1.0")
	err = run(context.Background(), []string{"-addr", "localhost:0"}, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "AzureAd__ClientSecret or AZURE_CLIENT_CERTIFICATE_PATH") {
		t.Fatalf("GRAPH_URL without a credential: %v", err)
	}
}
