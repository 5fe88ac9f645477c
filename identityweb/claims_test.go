package identityweb_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/identityweb/go-identityweb/identityweb"
)

// The claims of a cached token were one *Claims handed to every request:
// a handler that changed them changed what the next request saw.
func TestClaimsAreNotSharedBetweenRequests(t *testing.T) {
	op := newFakeOP(t)
	clk := newClock()
	app, _ := apiOn(t, op, clk)
	claims := op.claims(clk.Now())
	claims["roles"] = []string{"Reader"}
	tok := op.sign(t, "k1", claims)
	h := app.RequireBearer(identityweb.RequireScopes("read"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := identityweb.ClaimsFromContext(r.Context())
		if !slices.Equal(c.Roles, []string{"Reader"}) || !slices.Equal(c.Scopes, []string{"read"}) || c.Name != "User One" {
			t.Errorf("a request saw another's changes: roles %v, scopes %v, name %q", c.Roles, c.Scopes, c.Name)
		}
		c.Roles = append(c.Roles, "Admin") // a handler "elevating" its own request
		c.Scopes[0] = "write"
		c.Audience[0] = "other"
		c.Name = "changed"
		again, _ := identityweb.ClaimsFromContext(r.Context())
		if again.Name != "User One" || again.Scopes[0] != "read" {
			t.Error("a second read of the claims in one request saw the handler's changes")
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ { // concurrently too: -race flags shared writes
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				w := httptest.NewRecorder()
				r := httptest.NewRequest(http.MethodGet, "/api", nil)
				r.Header.Set("Authorization", "Bearer "+tok)
				h.ServeHTTP(w, r)
				if w.Code != http.StatusNoContent {
					t.Errorf("status %d", w.Code)
				}
			}
		}()
	}
	wg.Wait()
	ctx, err := app.ValidateToken(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := identityweb.ClaimsFromContext(ctx); c.Name != "User One" || len(c.Roles) != 1 {
		t.Fatalf("ValidateToken after handlers changed their claims: %+v", c)
	}
}

// RFC 6750 allows one credential per request: several Authorization
// headers are a malformed request (400 invalid_request), whichever is
// first.
func TestSeveralAuthorizationHeadersAreRefused(t *testing.T) {
	op := newFakeOP(t)
	clk := newClock()
	_, h := apiOn(t, op, clk)
	good := "Bearer " + op.sign(t, "k1", op.claims(clk.Now()))
	for name, values := range map[string][]string{
		"valid first":      {good, "Bearer other"},
		"valid second":     {"Bearer other", good},
		"twice the same":   {good, good},
		"bearer and basic": {good, "Basic dXNlcjpwYXNz"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/api", nil)
		r.Header["Authorization"] = values
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, w.Code)
		}
		if www := w.Header().Get("WWW-Authenticate"); w.Code == 400 && www != `Bearer realm="identityweb", error="invalid_request"` {
			t.Errorf("%s: WWW-Authenticate %q", name, www)
		}
	}
}
