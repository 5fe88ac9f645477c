package identityweb_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/identityweb"
	"github.com/identityweb/go-identityweb/internal/jws"
)

// logoutClaims are valid logout token claims for the app "web" of op.
func (op *fakeOP) logoutClaims(now time.Time, sid, sub string) map[string]any {
	c := map[string]any{"iss": op.srv.URL, "aud": "web", "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti": rand.Text(), "events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}}
	if sid != "" {
		c["sid"] = sid
	}
	if sub != "" {
		c["sub"] = sub
	}
	return c
}

func (op *fakeOP) logoutToken(t testing.TB, typ string, claims map[string]any) string {
	t.Helper()
	tok, err := jws.Sign(opKeys[0], jws.Header{Alg: jws.RS256, Typ: typ, Kid: "k1"}, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// logoutInstance is one instance of the web app "web" of op, over cache.
func logoutInstance(t testing.TB, op *fakeOP, clk identityweb.Clock, cache cachestore.Store) (*identityweb.App, http.Handler) {
	app, err := identityweb.New(identityweb.Config{Authority: op.srv.URL, ClientID: "web", ClientSecret: "s"},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: op.srv.Client(), Clock: clk, Logger: quiet(), Cache: cache},
			InsecureAllowHTTPCookies: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return app, app.Handler(http.NotFoundHandler())
}

func postLogout(h http.Handler, contentType, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/backchannel-logout", strings.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

const formType = "application/x-www-form-urlencoded"

func logoutForm(tok string) string { return url.Values{"logout_token": {tok}}.Encode() }

// Every validation rule of Back-Channel Logout 1.0 §2.6 refuses the token
// with 400 and an OAuth error body, and ends nothing; a valid token ends
// the sessions of its sid (or, with sub alone, every session of the user).
func TestBackchannelLogoutValidation(t *testing.T) {
	op := newFakeOP(t)
	clk := newClock()
	now := clk.Now()
	l2 := cachestore.NewEncrypted(cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk}), mustRing(t), cachestore.EncryptedOptions{Clock: clk, Logger: quiet()})
	instance := func() (*identityweb.App, http.Handler) {
		tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk}), l2, cachestore.TieredOptions{Logger: quiet(), Clock: clk})
		t.Cleanup(func() { tr.Close() })
		return logoutInstance(t, op, clk, tr)
	}
	app, h := instance()
	_, otherH := instance()
	iss := op.srv.URL
	identityweb.StartSessionForTest(app, "browser-1", iss, "sid-1", "sub-1")
	identityweb.StartSessionForTest(app, "browser-2", iss, "sid-2", "sub-1") // the same user, another provider session
	identityweb.StartSessionForTest(app, "browser-3", iss, "sid-3", "sub-2")
	live := func(want ...bool) { // as an instance that starts now sees them (this L2 carries no invalidations)
		t.Helper()
		fresh, _ := instance()
		for i, k := range []string{"browser-1", "browser-2", "browser-3"} {
			if got := identityweb.SessionLiveForTest(fresh, k); got != want[i] {
				t.Fatalf("%s live = %v, want %v", k, got, want[i])
			}
		}
	}
	live(true, true, true)

	with := func(mut func(map[string]any)) string {
		c := op.logoutClaims(now, "sid-1", "sub-1")
		mut(c)
		return op.logoutToken(t, "logout+jwt", c)
	}
	good := op.logoutToken(t, "logout+jwt", op.logoutClaims(now, "sid-1", "sub-1"))
	parts := strings.Split(good, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	hs256 := hs256WithPublicKey(t, op, op.logoutClaims(now, "sid-1", "sub-1"))
	noneTok := b64([]byte(`{"alg":"none","typ":"logout+jwt"}`)) + "." + parts[1] + "."
	forged := parts[0] + "." + b64([]byte(`{"iss":"`+iss+`","aud":"web","sid":"sid-1","jti":"x","iat":`+jsonNum(now.Unix())+`,"events":{"http://schemas.openid.net/event/backchannel-logout":{}}}`)) + "." + parts[2]
	jsonJWS, _ := json.Marshal(map[string]string{"protected": parts[0], "payload": parts[1], "signature": parts[2]})

	// Replayed on another instance: accepted once (for a session nobody
	// has), refused everywhere after.
	replayed := op.logoutToken(t, "logout+jwt", op.logoutClaims(now, "sid-nobody", ""))
	if w := postLogout(h, formType, logoutForm(replayed)); w.Code != 200 {
		t.Fatalf("first use of a token: %d %s", w.Code, w.Body)
	}

	cases := []struct {
		name, contentType, body string
		code                    int
	}{
		{"wrong issuer", formType, logoutForm(with(func(c map[string]any) { c["iss"] = "https://evil.example" })), 400},
		{"wrong audience", formType, logoutForm(with(func(c map[string]any) { c["aud"] = "another-app" })), 400},
		{"missing events", formType, logoutForm(with(func(c map[string]any) { delete(c, "events") })), 400},
		{"wrong event", formType, logoutForm(with(func(c map[string]any) {
			c["events"] = map[string]any{"http://schemas.openid.net/event/other": map[string]any{}}
		})), 400},
		{"event not an object", formType, logoutForm(with(func(c map[string]any) {
			c["events"] = map[string]any{"http://schemas.openid.net/event/backchannel-logout": "yes"}
		})), 400},
		{"nonce present", formType, logoutForm(with(func(c map[string]any) { c["nonce"] = "n" })), 400},
		{"nonce null", formType, logoutForm(with(func(c map[string]any) { c["nonce"] = nil })), 400},
		{"neither sid nor sub", formType, logoutForm(with(func(c map[string]any) { delete(c, "sid"); delete(c, "sub") })), 400},
		{"no jti", formType, logoutForm(with(func(c map[string]any) { delete(c, "jti") })), 400},
		{"replayed jti on another instance", formType, logoutForm(replayed), 400},
		{"iat too old", formType, logoutForm(with(func(c map[string]any) { c["iat"] = now.Add(-10 * time.Minute).Unix() })), 400},
		{"iat in the future", formType, logoutForm(with(func(c map[string]any) { c["iat"] = now.Add(10 * time.Minute).Unix() })), 400},
		{"no iat", formType, logoutForm(with(func(c map[string]any) { delete(c, "iat") })), 400},
		{"expired", formType, logoutForm(with(func(c map[string]any) { c["exp"] = now.Add(-10 * time.Minute).Unix() })), 400},
		{"typ JWT", formType, logoutForm(op.logoutToken(t, "JWT", op.logoutClaims(now, "sid-1", "sub-1"))), 400},
		{"bad signature", formType, logoutForm(forged), 400},
		{"unknown key", formType, logoutForm(func() string {
			tok, _ := jws.Sign(opKeys[1], jws.Header{Alg: jws.RS256, Typ: "logout+jwt", Kid: "k9"}, op.logoutClaims(now, "sid-1", "sub-1"))
			return tok
		}()), 400},
		{"signed by another key under a known kid", formType, logoutForm(func() string {
			tok, _ := jws.Sign(opKeys[1], jws.Header{Alg: jws.RS256, Typ: "logout+jwt", Kid: "k1"}, op.logoutClaims(now, "sid-1", "sub-1"))
			return tok
		}()), 400},
		{"alg none", formType, logoutForm(noneTok), 400},
		{"HS256 with the RSA public key", formType, logoutForm(hs256), 400},
		{"JWS JSON serialization", formType, logoutForm(string(jsonJWS)), 400},
		{"an ID token's claims (no events, a nonce)", formType, logoutForm(op.logoutToken(t, "JWT", map[string]any{"iss": iss, "aud": "web", "sub": "sub-1", "nonce": "n", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})), 400},
		{"junk token", formType, logoutForm("not-a-jwt"), 400},
		{"junk with dots", formType, logoutForm("a.b.c"), 400},
		{"empty body", formType, "", 400},
		{"empty token", formType, "logout_token=", 400},
		{"two tokens", formType, "logout_token=" + good + "&logout_token=" + good, 400},
		{"not a form", "application/json", `{"logout_token":"` + good + `"}`, 400},
		{"bad form encoding", formType, "logout_token=%zz", 400},
		{"1 MB body", formType, "logout_token=" + strings.Repeat("a", 1<<20), 400},
		{"claims not JSON", formType, logoutForm(func() string {
			tok, _ := jws.Sign(opKeys[0], jws.Header{Alg: jws.RS256, Typ: "logout+jwt", Kid: "k1"}, json.RawMessage("[1,2]"))
			return tok
		}()), 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := h
			if tc.name == "replayed jti on another instance" {
				target = otherH
			}
			w := postLogout(target, tc.contentType, tc.body)
			if w.Code != tc.code {
				t.Fatalf("status = %d, want %d: %s", w.Code, tc.code, w.Body)
			}
			var body struct{ Error, ErrorDescription string }
			if json.Unmarshal(w.Body.Bytes(), &body) != nil || body.Error != "invalid_request" || w.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("answer: %s %v", w.Body, w.Header())
			}
			if strings.Contains(w.Body.String(), "identityweb") || strings.Contains(w.Body.String(), "eyJ") {
				t.Fatalf("the answer leaks internals: %s", w.Body)
			}
			live(true, true, true)
		})
	}
	r := httptest.NewRequest(http.MethodGet, "/backchannel-logout?logout_token="+good, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET = %d", w.Code)
	}
	live(true, true, true)

	// Valid: the sid's session ends; the same user's other session stays.
	if w := postLogout(h, formType, logoutForm(good)); w.Code != 200 || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("valid token: %d %s", w.Code, w.Body)
	}
	live(false, true, true)
	if w := postLogout(otherH, formType, logoutForm(good)); w.Code != 400 {
		t.Fatalf("the valid token replayed on another instance: %d", w.Code)
	}
	// sub alone: every session of the user at that issuer.
	if w := postLogout(otherH, formType, logoutForm(op.logoutToken(t, "", op.logoutClaims(now, "", "sub-1")))); w.Code != 200 {
		t.Fatalf("sub-only token without typ: %d %s", w.Code, w.Body)
	}
	live(false, false, true)
}

func jsonNum(n int64) string { b, _ := json.Marshal(n); return string(b) }

func mustRing(t testing.TB) *cachestore.KeyRing {
	r, err := cachestore.NewKeyRing(cachestore.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Junk never panics the endpoint, whatever the bytes.
func FuzzBackchannelLogout(f *testing.F) {
	op := newFakeOP(f)
	clk := newClock()
	_, h := logoutInstance(f, op, clk, nil)
	f.Add(op.logoutToken(f, "logout+jwt", op.logoutClaims(clk.Now(), "s", "u")))
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		w := postLogout(h, formType, logoutForm(tok))
		if w.Code != 200 && w.Code != 400 {
			t.Fatalf("status %d", w.Code)
		}
	})
}
