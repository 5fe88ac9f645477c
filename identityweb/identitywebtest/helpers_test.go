package identitywebtest_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

const (
	tenant     = iwt.DefaultTenantID
	appRedir   = "http://localhost:5000/signin-oidc"
	apiScope   = iwt.WebAPIIdentifierURI + "/access_as_user"
	apiScope2  = iwt.WebAPIIdentifierURI + "/Todo.ReadWrite"
	apiDefault = iwt.WebAPIIdentifierURI + "/.default"
)

type fakeClock = iwt.Clock

func newFakeClock() *fakeClock { return iwt.NewClock(time.Now().Truncate(time.Second)) }

// ctxFor returns a context whose x/oauth2 and go-oidc HTTP client trusts s.
func ctxFor(s *iwt.Server) context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, s.Client())
}

// webApp is the oauth2.Config of the built-in web app.
func webApp(s *iwt.Server, scopes ...string) *oauth2.Config { return webAppAt(s, tenant, scopes...) }

func webAppAt(s *iwt.Server, tenant string, scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret, RedirectURL: appRedir,
		Endpoint: oauth2.Endpoint{AuthURL: s.AuthorizeEndpoint(tenant), TokenURL: s.TokenEndpoint(tenant),
			AuthStyle: oauth2.AuthStyleInParams},
		Scopes: append([]string{"openid", "profile", "offline_access"}, scopes...),
	}
}

// signIn runs the authorization code flow for username with PKCE and
// returns the token response.
func signIn(t *testing.T, s *iwt.Server, username string, scopes ...string) *oauth2.Token {
	t.Helper()
	return signInAt(t, s, tenant, username, scopes...)
}

func signInAt(t *testing.T, s *iwt.Server, tenantSeg, username string, scopes ...string) *oauth2.Token {
	t.Helper()
	conf := webAppAt(s, tenantSeg, scopes...)
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "n0"))
	back, err := s.NewBrowser().SignIn(authURL, username, "", true)
	if err != nil {
		t.Fatalf("SignIn: %v", err)
	}
	if back.Query().Get("state") != "st" || back.Query().Get("code") == "" {
		t.Fatalf("redirect back = %s", back)
	}
	tok, err := conf.Exchange(ctxFor(s), back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return tok
}

// claimsOf decodes a JWT's payload without verifying it.
func claimsOf(t testing.TB, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// headerOf decodes a JWT's header.
func headerOf(t testing.TB, jwt string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// entraError is the body of an error answer.
type entraError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	Suberror         string `json:"suberror"`
	Claims           string `json:"claims"`
}

// wantOAuthError checks that err is an x/oauth2 RetrieveError with the given
// OAuth error and AADSTS code, and returns its body.
func wantOAuthError(t *testing.T, err error, code string, aadsts int) entraError {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error = %v, want *oauth2.RetrieveError %s AADSTS%d", err, code, aadsts)
	}
	var body entraError
	if err := json.Unmarshal(re.Body, &body); err != nil {
		t.Fatalf("error body is not JSON: %q", re.Body)
	}
	if body.Error != code || len(body.ErrorCodes) != 1 || body.ErrorCodes[0] != aadsts {
		t.Fatalf("error = %s %v (%s), want %s AADSTS%d", body.Error, body.ErrorCodes, body.ErrorDescription, code, aadsts)
	}
	if !strings.HasPrefix(body.ErrorDescription, "AADSTS") || body.TraceID == "" || body.CorrelationID == "" || body.Timestamp == "" {
		t.Fatalf("error body not Entra-shaped: %+v", body)
	}
	return body
}

// postToken sends a raw token request and decodes the answer.
func postToken(t *testing.T, s *iwt.Server, tenantSeg string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := s.Client().PostForm(s.TokenEndpoint(tenantSeg), form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("token answer is not JSON (status %d): %v", resp.StatusCode, err)
	}
	return resp.StatusCode, m
}

func aadsts(m map[string]any) int {
	codes, _ := m["error_codes"].([]any)
	if len(codes) != 1 {
		return 0
	}
	f, _ := codes[0].(float64)
	return int(f)
}

func randomVerifier() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeJSON(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decoding JSON answer (status %d): %v", resp.StatusCode, err)
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func ctxWithClient(c *http.Client) context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, c)
}
