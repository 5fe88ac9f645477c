package session_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/alexedwards/scs/v2"

	"github.com/identityweb/go-identityweb/session"
)

// An app's scs manager with live sessions keeps its cookie, its codec and
// its sessions through adoption: a rolling deploy signs no one out.
func TestSCSAdoptionKeepsLiveSessions(t *testing.T) {
	sm := scs.New() // the app's: default cookie "session", gob codec
	app := sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/set" {
			sm.Put(r.Context(), "cart", "3 items")
		}
		w.Write([]byte(sm.GetString(r.Context(), "cart")))
	}))
	w := httptest.NewRecorder()
	app.ServeHTTP(w, httptest.NewRequest("GET", "/set", nil))
	cookie := w.Result().Cookies()[0]

	before := *sm
	s, err := session.NewSCS(sm, session.SCSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sm.Cookie != before.Cookie || sm.Codec != before.Codec || sm.Store != before.Store {
		t.Fatalf("adoption changed the app's manager: cookie %+v codec %T", sm.Cookie, sm.Codec)
	}
	// The live session is still read, through the app's middleware and ours.
	for _, h := range []http.Handler{app, s.Middleware(app)} {
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(cookie)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Body.String() != "3 items" {
			t.Fatalf("the live session was lost: %q", w.Body.String())
		}
	}
}

func TestSCSRefusesUnusableManagers(t *testing.T) {
	notHTTPOnly := scs.New()
	notHTTPOnly.Cookie.HttpOnly = false
	strict := scs.New()
	strict.Cookie.SameSite = http.SameSiteStrictMode
	for name, sm := range map[string]*scs.SessionManager{"not HttpOnly": notHTTPOnly, "SameSite Strict": strict} {
		if _, err := session.NewSCS(sm, session.SCSOptions{}); err == nil {
			t.Errorf("%s: adopted", name)
		}
	}
	if _, err := session.NewGorilla(nil, session.GorillaOptions{}); err == nil {
		t.Error("nil gorilla store: accepted")
	}
}

// A context that never went through the session middleware is an error,
// never a panic.
func TestNoSessionInContext(t *testing.T) {
	s, _ := session.NewSCS(nil, session.SCSOptions{})
	ctx := context.Background()
	if s.Loaded(ctx) || s.Key(ctx) != "" || s.CSRFToken(ctx) != "" {
		t.Fatal("a bare context looks like a session")
	}
	if _, ok := s.Account(ctx); ok {
		t.Fatal("account from a bare context")
	}
	if _, ok := s.TakePending(ctx, "x"); ok {
		t.Fatal("pending from a bare context")
	}
	if s.PutPending(ctx, "x", nil) == nil || s.SignIn(ctx, "k", session.Account{}) == nil || s.SignOut(ctx) == nil {
		t.Fatal("a write to a bare context succeeded")
	}
}
