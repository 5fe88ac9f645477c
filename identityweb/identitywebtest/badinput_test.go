package identitywebtest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// serve runs one request through a provider without a network.
func serve(p *iwt.Provider, method, target, contentType, body string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	p.ServeHTTP(w, r)
	return w
}

const formCT = "application/x-www-form-urlencoded"

var tokenPath = "https://idp.test/" + tenant + "/oauth2/v2.0/token"

func TestTokenEndpointBadInput(t *testing.T) {
	p, err := iwt.NewProvider(iwt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	secret := "client_id=" + iwt.DaemonClientID + "&client_secret=" + iwt.DaemonSecret
	cases := []struct {
		name, method, ct, body string
		hdr                    []string
		status                 int
		code                   string
		aadsts                 int
	}{
		{"GET", http.MethodGet, "", "", nil, 400, "invalid_request", iwt.CodePostOnly},
		{"JSON body", http.MethodPost, "application/json", `{"grant_type":"client_credentials"}`, nil, 400, "invalid_request", iwt.CodeMalformedRequest},
		{"no content type", http.MethodPost, "", "grant_type=client_credentials", nil, 400, "invalid_request", iwt.CodeMalformedRequest},
		{"bad encoding", http.MethodPost, formCT, "grant_type=%zz", nil, 400, "invalid_request", iwt.CodeMalformedRequest},
		{"too large", http.MethodPost, formCT, "grant_type=" + strings.Repeat("a", 2<<20), nil, 400, "invalid_request", iwt.CodeMalformedRequest},
		{"duplicate grant_type", http.MethodPost, formCT, "grant_type=client_credentials&grant_type=password", nil, 400, "invalid_request", iwt.CodeMalformedRequest},
		{"no grant_type", http.MethodPost, formCT, secret, nil, 400, "invalid_request", iwt.CodeInvalidRequest},
		{"unknown grant", http.MethodPost, formCT, "grant_type=password&" + secret, nil, 400, "unsupported_grant_type", iwt.CodeUnsupportedGrant},
		{"two auth methods", http.MethodPost, formCT, "grant_type=client_credentials&scope=" + url.QueryEscape(apiDefault) + "&" + secret + "&client_assertion=x&client_assertion_type=y", nil, 400, "invalid_request", iwt.CodeMalformedRequest},
		{"bad basic header", http.MethodPost, formCT, "grant_type=client_credentials", []string{"Authorization", "Basic !!!"}, 400, "invalid_request", iwt.CodeInvalidRequest},
		{"bad assertion type", http.MethodPost, formCT, "grant_type=client_credentials&client_id=" + iwt.DaemonClientID + "&client_assertion=a.b.c&client_assertion_type=x", nil, 400, "invalid_request", iwt.CodeInvalidRequest},
		{"missing code", http.MethodPost, formCT, "grant_type=authorization_code&client_id=" + iwt.WebAppClientID + "&client_secret=" + iwt.WebAppSecret, nil, 400, "invalid_request", iwt.CodeInvalidRequest},
		{"missing refresh_token", http.MethodPost, formCT, "grant_type=refresh_token&client_id=" + iwt.WebAppClientID + "&client_secret=" + iwt.WebAppSecret, nil, 400, "invalid_request", iwt.CodeInvalidRequest},
		{"missing assertion", http.MethodPost, formCT, "grant_type=" + url.QueryEscape(iwt.GrantJWTBearer) + "&requested_token_use=on_behalf_of&client_id=" + iwt.WebAPIClientID + "&client_secret=" + iwt.WebAPISecret, nil, 400, "invalid_request", iwt.CodeInvalidRequest},
		{"bad subject_token_type", http.MethodPost, formCT, "grant_type=" + url.QueryEscape(iwt.GrantTokenExchange) + "&subject_token=x&subject_token_type=foo&client_id=" + iwt.WebAPIClientID + "&client_secret=" + iwt.WebAPISecret, nil, 400, "invalid_request", iwt.CodeInvalidRequest},
		{"bad claims JSON", http.MethodPost, formCT, "grant_type=client_credentials&scope=" + url.QueryEscape(apiDefault) + "&claims=%7B&" + secret, nil, 400, "invalid_request", iwt.CodeMalformedRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(p, tc.method, tokenPath, tc.ct, tc.body, tc.hdr...)
			var e entraError
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
				t.Fatalf("not JSON: %q", w.Body.String())
			}
			if w.Code != tc.status || e.Error != tc.code || len(e.ErrorCodes) != 1 || e.ErrorCodes[0] != tc.aadsts {
				t.Fatalf("= %d %s %v (%s), want %d %s %d", w.Code, e.Error, e.ErrorCodes, e.ErrorDescription, tc.status, tc.code, tc.aadsts)
			}
			if strings.Contains(w.Body.String(), iwt.DaemonSecret) {
				t.Fatal("the answer echoes the client secret")
			}
		})
	}
}

func TestPagesBadInput(t *testing.T) {
	p, err := iwt.NewProvider(iwt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := "https://idp.test/" + tenant
	for _, tc := range []struct {
		name, method, target, ct, body string
		status                         int
	}{
		{"unknown path", http.MethodGet, base + "/nope", "", "", 404},
		{"login without tx", http.MethodPost, base + "/login", formCT, "username=" + iwt.AliceUsername, 400},
		{"login with forged tx", http.MethodPost, base + "/login", formCT, "tx=tx.forged&username=" + iwt.AliceUsername, 400},
		{"login GET", http.MethodGet, base + "/login", "", "", 405},
		{"consent with forged tx", http.MethodPost, base + "/consent", formCT, "tx=tx.forged&decision=accept", 400},
		{"authorize bad query", http.MethodGet, base + "/oauth2/v2.0/authorize?%zz", "", "", 400},
		{"authorize DELETE", http.MethodDelete, base + "/oauth2/v2.0/authorize", "", "", 405},
		{"logout garbage hint", http.MethodGet, base + "/oauth2/v2.0/logout?id_token_hint=a.b.c&post_logout_redirect_uri=https%3A%2F%2Fevil.example", "", "", 200},
		{"discovery POST", http.MethodPost, base + "/v2.0/.well-known/openid-configuration", "", "", 405},
		{"index", http.MethodGet, "https://idp.test/", "", "", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(p, tc.method, tc.target, tc.ct, tc.body)
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d: %s", w.Code, tc.status, w.Body.String())
			}
			if loc := w.Header().Get("Location"); loc != "" {
				t.Fatalf("redirected to %q", loc)
			}
		})
	}
}

// FuzzTokenEndpoint sends arbitrary bodies and Authorization headers to the
// token endpoint: every answer must be a well-formed JSON success or an
// Entra-shaped error, never a panic or a 5xx.
func FuzzTokenEndpoint(f *testing.F) {
	p, err := iwt.NewProvider(iwt.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("grant_type=client_credentials&client_id="+iwt.DaemonClientID+"&client_secret="+iwt.DaemonSecret+"&scope="+url.QueryEscape(apiDefault), "")
	f.Add("grant_type=authorization_code&code=code.x&redirect_uri=x", "Basic "+"MTExMTExMTEtMDAwMC00MDAwLTgwMDAtMDAwMDAwMDAwMDAxOndlYmFwcC1kZXYtc2VjcmV0")
	f.Add("grant_type=refresh_token&refresh_token=rt.x&scope=User.Read&client_id="+iwt.WebAppClientID+"&client_secret="+iwt.WebAppSecret, "")
	f.Add("grant_type="+url.QueryEscape(iwt.GrantJWTBearer)+"&assertion=a.b.c&requested_token_use=on_behalf_of&scope=User.Read&client_id="+iwt.WebAPIClientID+"&client_secret="+iwt.WebAPISecret, "")
	f.Add("grant_type=client_credentials&claims=%7B%22access_token%22%3A%7B%22acrs%22%3Anull%7D%7D", "Basic Og==")
	f.Add("scope=a/b/c/.default+openid&&&=&grant_type=", "Bearer x")
	f.Fuzz(func(t *testing.T, body, auth string) {
		w := serve(p, http.MethodPost, tokenPath, formCT, body, "Authorization", auth)
		checkTokenAnswer(t, w)
	})
}

// FuzzClientAssertion sends arbitrary client assertions: none may
// authenticate (the fuzzer cannot sign), none may crash the provider.
func FuzzClientAssertion(f *testing.F) {
	p, err := iwt.NewProvider(iwt.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("eyJhbGciOiJQUzI1NiIsIng1dCNTMjU2IjoiYWJjIn0.eyJpc3MiOiIzMzMzIn0.c2ln")
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiIzMzMzMzMzMy0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDMifQ.")
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.AAAA")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, assertion string) {
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {apiDefault},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
		if len(assertion)%2 == 0 {
			form.Set("client_id", iwt.DaemonClientID)
		}
		w := serve(p, http.MethodPost, tokenPath, formCT, form.Encode())
		checkTokenAnswer(t, w)
		if w.Code == http.StatusOK {
			t.Fatalf("an unsigned assertion authenticated: %q", assertion)
		}
	})
}

func checkTokenAnswer(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Code >= 500 {
		t.Fatalf("status %d: %s", w.Code, w.Body.String())
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("answer is not JSON: %q", w.Body.String())
	}
	if w.Code == http.StatusOK {
		if m["access_token"] == nil || m["token_type"] != "Bearer" {
			t.Fatalf("success without a token: %v", m)
		}
		return
	}
	desc, _ := m["error_description"].(string)
	if m["error"] == nil || !strings.HasPrefix(desc, "AADSTS") || m["trace_id"] == nil || m["correlation_id"] == nil {
		t.Fatalf("error not Entra-shaped: %v", m)
	}
}
