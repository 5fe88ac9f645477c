package identityweb_test

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// TestProtectedAPICallsDownstreamOnBehalfOf: a client calls the web API
// with Alice's token; the API calls Graph (a stand-in server) on her behalf.
// When Graph demands claims, the API replies to its caller with the
// WWW-Authenticate challenge to act on.
func TestProtectedAPICallsDownstreamOnBehalfOf(t *testing.T) {
	idp := iwt.NewServer(t, iwt.Options{})
	var demandClaims atomic.Bool
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ey") {
			w.WriteHeader(401)
			return
		}
		if demandClaims.Load() {
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_claims", claims="`+base64.StdEncoding.EncodeToString([]byte(acrsClaims))+`"`)
			w.WriteHeader(401)
			return
		}
		fmt.Fprint(w, "graph profile")
	}))
	defer graph.Close()
	api, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: tenant, ClientID: iwt.WebAPIClientID, ClientSecret: iwt.WebAPISecret},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Logger: quiet()}})
	if err != nil {
		t.Fatal(err)
	}
	g, _ := api.DownstreamClient(identityweb.DownstreamAPI{BaseURL: graph.URL, Scopes: []string{"User.Read"}, As: identityweb.OnBehalfOf})
	srv := httptest.NewServer(api.RequireBearer(identityweb.RequireScopes("access_as_user"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, graph.URL+"/me", nil)
		resp, err := g.Do(req)
		if err != nil {
			api.Challenge(w, r, err)
			return
		}
		defer resp.Body.Close()
		io.Copy(w, resp.Body)
	})))
	defer srv.Close()
	alice, _ := idp.UserToken(iwt.AliceUsername, iwt.WebAppClientID, iwt.WebAPIIdentifierURI, "access_as_user")
	get := func() *http.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		req.Header.Set("Authorization", "Bearer "+alice)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for i := 0; i < 3; i++ {
		resp := get()
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "graph profile" {
			t.Fatalf("call %d: %d %s", i, resp.StatusCode, b)
		}
	}
	if n := idp.TokenRequests(iwt.GrantJWTBearer); n != 1 {
		t.Fatalf("OBO requests = %d, want 1 (then cached)", n)
	}
	// Graph demands claims: the OBO retry with claims needs the user, so the
	// API answers 401 insufficient_claims with the claims for its client.
	demandClaims.Store(true)
	resp := get()
	resp.Body.Close()
	www := resp.Header.Get("WWW-Authenticate")
	if resp.StatusCode != 401 || !strings.Contains(www, `error="insufficient_claims"`) || !strings.Contains(www, base64.StdEncoding.EncodeToString([]byte(acrsClaims))) {
		t.Fatalf("claims challenge through the API: %d %q", resp.StatusCode, www)
	}
}
