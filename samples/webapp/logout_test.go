package main

import (
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// Single sign-out, as a person sees it: signed in, they sign out at the
// identity provider only (the home page's link); the provider's sign-out
// page loads the app's front-channel logout URL, the browser comes back to
// the app, and the app asks for sign-in again — its pages send the browser
// to the provider rather than serve it.
func TestSignOutAtTheProvider(t *testing.T) {
	appURL, s := startSite(t, false)
	b := browser(t)
	page(t, b, "GET", appURL+"/me", nil, 200, "Hello, Alice Example")
	home := page(t, b, "GET", appURL+"/", nil, 200, `id="signed-in"`, `id="provider-sign-out"`)
	link := reProviderSignOut.FindStringSubmatch(home)
	if link == nil || !strings.HasPrefix(unescape(link[1]), s.idp.URL+"/") {
		t.Fatalf("no provider sign-out link:\n%s", home)
	}
	back := page(t, b, "GET", unescape(link[1]), nil, 200, `id="provider-signed-out"`, `id="sign-in-button"`)
	if strings.Contains(back, `id="signed-in"`) {
		t.Fatalf("still signed in after signing out at the provider:\n%s", back)
	}
	if len(b.FrontChannelStatus) != 1 || b.FrontChannelStatus[0] != http.StatusOK {
		t.Fatalf("front-channel frames: %v", b.FrontChannelStatus)
	}
	// The profile now goes through sign-in at the provider.
	resp, err := b.Client.Get(appURL + "/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, s.idp.URL) {
		t.Fatalf("/me after the provider sign-out: %d to %q, want sign-in", resp.StatusCode, loc)
	}
}

var reProviderSignOut = regexp.MustCompile(`id="provider-sign-out" href="([^"]+)"`)

func unescape(s string) string { return html.UnescapeString(s) }
