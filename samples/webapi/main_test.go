package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/identityweb"
	"github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

func TestWebAPI(t *testing.T) {
	t.Setenv("AzureAd__ClientId", "")
	t.Setenv("AZURE_CLIENT_ID", "")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan started, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-addr", "localhost:0"}, io.Discard, ready) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	var s started
	select {
	case s = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("did not start")
	}
	call := func(path, token string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	user, _ := s.idp.Provider.MintUserToken(s.idp.URL, identitywebtest.AliceUsername, identitywebtest.WebAppClientID, identitywebtest.WebAPIIdentifierURI, "access_as_user")
	if code, m := call("/todos", user); code != 200 || m["caller"] != "Alice Example" {
		t.Fatalf("/todos as a user: %d %v", code, m)
	}
	// The daemon, with client credentials, has the app role.
	daemon, _ := identityweb.NewTokenAcquirer(identityweb.Config{Instance: s.idp.URL + "/", TenantID: identitywebtest.DefaultTenantID,
		ClientID: identitywebtest.DaemonClientID, ClientSecret: identitywebtest.DaemonSecret}, identityweb.Options{HTTPClient: s.idp.Client})
	app, err := daemon.ForApp(ctx, identitywebtest.WebAPIIdentifierURI+"/.default")
	if err != nil {
		t.Fatal(err)
	}
	if code, m := call("/todos", app.AccessToken); code != 200 || m["caller"] != "app "+identitywebtest.DaemonClientID {
		t.Fatalf("/todos as the daemon: %d %v", code, m)
	}
	if code, _ := call("/profile", app.AccessToken); code != 403 {
		t.Fatalf("/profile as an app: %d", code)
	}
	if code, m := call("/profile", user); code != 200 || m["displayName"] != "Alice Example" {
		t.Fatalf("/profile (OBO): %d %v", code, m)
	}
	if code, _ := call("/todos", ""); code != 401 {
		t.Fatalf("no token: %d", code)
	}
}
