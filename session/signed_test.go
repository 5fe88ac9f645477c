package session_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gorilla/sessions"

	"github.com/identityweb/go-identityweb/session"
)

// Signed reads what Key, Account and Times read, in one lookup, on every
// Manager identityweb ships; a key holding the separator is refused like an
// account field; a bare context is no session.
func TestSignedReadsWhatTheAccessorsRead(t *testing.T) {
	scsSessions, _ := session.NewSCS(nil, session.SCSOptions{})
	gorillaSessions, _ := session.NewGorilla(sessions.NewCookieStore([]byte(strings.Repeat("h", 32))), session.GorillaOptions{})
	acct := session.Account{ObjectID: "oid", TenantID: "tid", Username: "alice@contoso.com", Name: "Alice Ünïcode"}
	times := session.Times{SignedIn: time.Unix(1_700_000_000, 5), LastSeen: time.Unix(1_700_000_300, 7)}
	for name, m := range map[string]session.Manager{"scs": scsSessions, "gorilla": gorillaSessions} {
		sr, ok := m.(session.SignedReader)
		if !ok {
			t.Fatalf("%s: not a SignedReader", name)
		}
		if _, ok := sr.Signed(context.Background()); ok {
			t.Errorf("%s: a bare context reads as signed in", name)
		}
		m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			if s, ok := sr.Signed(ctx); ok {
				t.Errorf("%s: an anonymous session reads as signed in: %+v", name, s)
			}
			if err := m.SignIn(ctx, "key\x00forged", acct); !errors.Is(err, session.ErrAccountNUL) {
				t.Errorf("%s: a key with a NUL byte: %v", name, err)
			}
			if err := m.SignIn(ctx, "the-key", acct); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			csrf := m.CSRFToken(ctx)
			if s, ok := sr.Signed(ctx); !ok || s.Key != "the-key" || s.Account != acct || !s.Times.SignedIn.IsZero() {
				t.Errorf("%s: after SignIn: %+v %v", name, s, ok)
			}
			if err := m.SetTimes(ctx, times); err != nil {
				t.Fatal(err)
			}
			s, ok := sr.Signed(ctx)
			a2, _ := m.Account(ctx)
			if !ok || s.Key != m.Key(ctx) || s.Account != a2 || !s.Times.SignedIn.Equal(times.SignedIn) || !s.Times.LastSeen.Equal(m.Times(ctx).LastSeen) {
				t.Errorf("%s: Signed %+v; accessors %q %+v %+v", name, s, m.Key(ctx), a2, m.Times(ctx))
			}
			if m.CSRFToken(ctx) != csrf || len(csrf) < 32 {
				t.Errorf("%s: SetTimes changed the CSRF token", name)
			}
			m.SignOut(ctx)
			if _, ok := sr.Signed(ctx); ok || m.Key(ctx) != "" {
				t.Errorf("%s: signed in after SignOut", name)
			}
		})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}
}

// A session signed in before its values were one (separate idw.key,
// idw.account, idw.csrf and idw.times values) is still read, its times are
// still kept, and its next sign-in leaves none of the old values behind.
func TestSCSReadsSessionsSignedInBefore(t *testing.T) {
	s, _ := session.NewSCS(nil, session.SCSOptions{})
	sm := s.Manager()
	ctx, err := sm.Load(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	sm.Put(ctx, "idw.key", "old-key")
	sm.Put(ctx, "idw.account", "oid\x00tid\x00bob@contoso.com\x00Bob")
	sm.Put(ctx, "idw.csrf", "old-csrf")
	var tb [16]byte
	tb[0], tb[8] = 1, 2 // two little-endian Unix nanosecond counts
	sm.Put(ctx, "idw.times", string(tb[:]))
	want := session.Account{ObjectID: "oid", TenantID: "tid", Username: "bob@contoso.com", Name: "Bob"}
	if got, ok := s.Signed(ctx); !ok || got.Key != "old-key" || got.Account != want || got.Times.SignedIn.UnixNano() != 1 || got.Times.LastSeen.UnixNano() != 2 {
		t.Fatalf("earlier session: %+v %v", got, ok)
	}
	if s.Key(ctx) != "old-key" || s.CSRFToken(ctx) != "old-csrf" {
		t.Fatalf("earlier session: key %q csrf %q", s.Key(ctx), s.CSRFToken(ctx))
	}
	later := session.Times{SignedIn: time.Unix(0, 1), LastSeen: time.Unix(100, 0)}
	if err := s.SetTimes(ctx, later); err != nil || !s.Times(ctx).LastSeen.Equal(later.LastSeen) {
		t.Fatalf("earlier session's times: %v %+v", err, s.Times(ctx))
	}
	if err := s.SignIn(ctx, "new-key", want); err != nil {
		t.Fatal(err)
	}
	if keys := strings.Join(sm.Keys(ctx), " "); keys != "idw.state" {
		t.Fatalf("after sign-in the session holds %q", keys)
	}
	if s.Key(ctx) != "new-key" || s.CSRFToken(ctx) == "old-csrf" || !s.Times(ctx).SignedIn.IsZero() {
		t.Fatal("sign-in kept the earlier session's key, token or times")
	}
}

// scs's own codec (gob) keeps the one value too: an app that adopts its
// manager gets the same sessions.
func TestSCSStateThroughGob(t *testing.T) {
	sm := scs.New()
	s, err := session.NewSCS(sm, session.SCSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	acct := session.Account{ObjectID: "o", TenantID: "t", Username: "u", Name: "n"}
	h := s.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/in" {
			s.SignIn(r.Context(), "k", acct)
			return
		}
		if got, ok := s.Signed(r.Context()); !ok || got.Key != "k" || got.Account != acct {
			t.Errorf("after a round trip through the store: %+v %v", got, ok)
		}
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/in", nil))
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(w.Result().Cookies()[0])
	h.ServeHTTP(httptest.NewRecorder(), r)
}
