// Package frameworkstest drives a framework sample (samples/frameworks/…)
// the way a person and an API client would, for the samples' tests.
package frameworkstest

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/samples/frameworks"
)

// Start runs s on free ports until the test ends.
func Start(t *testing.T, s frameworks.Sample) frameworks.Started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan frameworks.Started, 1)
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, []string{"-addr", "localhost:0", "-idp-addr", "localhost:0"}, io.Discard, ready)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	select {
	case st := <-ready:
		return st
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the sample did not start")
	}
	return frameworks.Started{}
}

var reCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// Drive starts s and goes through it: the public page; sign-in on the
// provider's pages (consenting to the web API's scope); /me, where the web
// app gets a user token and calls the web API with it, which gets a Graph
// token on the user's behalf (OBO); the API called directly, with and
// without a token; sign-out, after which /me needs a new sign-in.
func Drive(t *testing.T, s frameworks.Sample) {
	t.Helper()
	st := Start(t, s)
	b := identitywebtest.NewBrowser(nil)
	b.Username = identitywebtest.AliceUsername
	page := func(method, path string, form url.Values, want ...string) string {
		t.Helper()
		var resp *http.Response
		var body string
		var err error
		if method == http.MethodPost {
			resp, body, err = b.PostForm(st.URL+path, form)
		} else {
			resp, body, err = b.Get(st.URL + path)
		}
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: status %d\n%s", method, path, resp.StatusCode, body)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Fatalf("%s %s lacks %q:\n%s", method, path, w, body)
			}
		}
		return body
	}
	page("GET", "/", nil, "identityweb on "+s.Name, `id="sign-in"`)
	me := page("GET", "/me", nil, "Hello, Alice Example",
		`id="user-token">from cache (l1)`, // redeemed at sign-in
		`id="api-answer">caller Alice Example; Graph token on their behalf from identity_provider`)
	if len(b.ConsentShown) != 1 || b.ConsentShown[0] != frameworks.APIScope {
		t.Fatalf("consent at sign-in: %v", b.ConsentShown)
	}
	// Again: every token from the cache now, the OBO one included.
	page("GET", "/me", nil, `id="api-answer">caller Alice Example; Graph token on their behalf from cache`)

	// The web API on its own: a bearer token or 401.
	call := func(token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, st.URL+"/api", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	tok, err := st.IdP.MintUserToken(st.IdP.URL, identitywebtest.BobUsername, identitywebtest.WebAppClientID, identitywebtest.WebAPIIdentifierURI, "access_as_user")
	if err != nil {
		t.Fatal(err)
	}
	if code, body := call(tok); code != 200 || !strings.Contains(body, `"caller":"Bob Example","obo":"identity_provider"`) {
		t.Fatalf("/api with Bob's token: %d %s", code, body)
	}
	if code, _ := call(""); code != 401 {
		t.Fatalf("/api without a token: %d", code)
	}

	csrf := reCSRF.FindStringSubmatch(me)
	if csrf == nil {
		t.Fatalf("no sign-out form:\n%s", me)
	}
	page("POST", "/signout", url.Values{"csrf": {csrf[1]}}, `id="signed-out"`, `id="sign-in"`)
	if n := st.IdP.TokenRequests("authorization_code"); n != 1 {
		t.Fatalf("code redemptions before signing in again: %d", n)
	}
	page("GET", "/me", nil, "Hello, Alice Example")
	if n := st.IdP.TokenRequests("authorization_code"); n != 2 {
		t.Fatalf("code redemptions = %d, want 2: /me after sign-out did not sign in again", n)
	}
}
