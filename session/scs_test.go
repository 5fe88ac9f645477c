package session_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/alexedwards/scs/v2"
	"github.com/gorilla/sessions"

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
	if s.SignIn(ctx, "k", session.Account{}) == nil || s.SignOut(ctx) == nil {
		t.Fatal("a write to a bare context succeeded")
	}
}

// The account's fields were joined with NUL bytes and split back: a user
// name holding one posed as another user name (Username "alice@contoso…\x00x"
// read back as "alice@contoso…"). Such an account is refused.
func TestAccountFieldWithNULRefused(t *testing.T) {
	scsSessions, _ := session.NewSCS(nil, session.SCSOptions{})
	gorillaSessions, _ := session.NewGorilla(sessions.NewCookieStore([]byte(strings.Repeat("h", 32))), session.GorillaOptions{})
	for name, m := range map[string]session.Manager{"scs": scsSessions, "gorilla": gorillaSessions} {
		m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			forged := session.Account{ObjectID: "oid-mallory", TenantID: "t", Username: "alice@contoso.com\x00mallory", Name: "Mallory"}
			if err := m.SignIn(ctx, "k", forged); !errors.Is(err, session.ErrAccountNUL) {
				t.Errorf("%s: SignIn of an account with a NUL byte: %v", name, err)
			}
			if acct, ok := m.Account(ctx); ok {
				t.Errorf("%s: signed in as %+v", name, acct)
			}
			good := session.Account{ObjectID: "o", TenantID: "t", Username: "alice@contoso.com", Name: "Alice Ünïcode"}
			if err := m.SignIn(ctx, "k", good); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if acct, ok := m.Account(ctx); !ok || acct != good {
				t.Errorf("%s: account = %+v", name, acct)
			}
		})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}
}
