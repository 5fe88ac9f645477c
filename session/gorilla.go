package session

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/gorilla/sessions"
)

// GorillaOptions configure the gorilla/sessions adapter.
type GorillaOptions struct {
	// Name of identityweb's session (its cookie), which must be used by
	// nothing else. Default: "idw_session".
	Name string
	// InsecureAllowHTTPCookies leaves Secure off the cookie (development on
	// http://localhost). Default: Secure.
	InsecureAllowHTTPCookies bool
}

// Gorilla is a Manager over a gorilla/sessions Store. Prefer a server-side
// store (FilesystemStore, or a Redis store): with CookieStore the session
// data travels in the (encrypted, authenticated) cookie. The session is
// saved when the response's header is written.
type Gorilla struct {
	store sessions.Store
	opts  GorillaOptions
}

// NewGorilla adapts store. identityweb keeps its state in a session of its
// own (Name), so the app's other sessions in the same store are never
// touched; that session's cookie is HttpOnly, SameSite=Lax and Secure
// (unless InsecureAllowHTTPCookies). A nil store is an error.
func NewGorilla(store sessions.Store, opts GorillaOptions) (*Gorilla, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: a gorilla/sessions Store is required", ErrUnusableManager)
	}
	if opts.Name == "" {
		opts.Name = "idw_session"
	}
	return &Gorilla{store: store, opts: opts}, nil
}

// Loaded reports whether ctx passed Middleware.
func (g *Gorilla) Loaded(ctx context.Context) bool { return g.state(ctx) != nil }

type gorillaCtxKey struct{}

// gorillaState is one request's session.
type gorillaState struct {
	mu      sync.Mutex
	s       *sessions.Session
	r       *http.Request
	dirty   bool
	destroy bool
}

// Middleware loads the session into the context and saves it before the
// response header goes out. A session that does not decode (tampered,
// expired, foreign) is replaced by a new one.
func (g *Gorilla) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := g.store.Get(r, g.opts.Name)
		if err != nil || s == nil {
			s, _ = g.store.New(r, g.opts.Name)
			s.Values = map[interface{}]interface{}{}
		}
		s.Options.HttpOnly = true
		s.Options.SameSite = http.SameSiteLaxMode
		s.Options.Secure = !g.opts.InsecureAllowHTTPCookies
		if s.Options.Path == "" {
			s.Options.Path = "/"
		}
		st := &gorillaState{s: s, r: r}
		sw := &savingWriter{ResponseWriter: w, save: func(w http.ResponseWriter) { g.save(st, w) }}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), gorillaCtxKey{}, st)))
		sw.flush()
	})
}

func (g *Gorilla) save(st *gorillaState, w http.ResponseWriter) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.dirty {
		return
	}
	if st.destroy {
		st.s.Options.MaxAge = -1
	}
	g.store.Save(st.r, w, st.s)
}

// savingWriter saves the session once, just before the header is written.
type savingWriter struct {
	http.ResponseWriter
	save  func(http.ResponseWriter)
	saved bool
}

func (s *savingWriter) flush() {
	if !s.saved {
		s.saved = true
		s.save(s.ResponseWriter)
	}
}

func (s *savingWriter) WriteHeader(code int) { s.flush(); s.ResponseWriter.WriteHeader(code) }
func (s *savingWriter) Write(b []byte) (int, error) {
	s.flush()
	return s.ResponseWriter.Write(b)
}
func (s *savingWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (g *Gorilla) state(ctx context.Context) *gorillaState {
	st, _ := ctx.Value(gorillaCtxKey{}).(*gorillaState)
	return st
}

func (g *Gorilla) str(ctx context.Context, k string) string {
	st := g.state(ctx)
	if st == nil {
		return ""
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	v, _ := st.s.Values[k].(string)
	return v
}

func (g *Gorilla) put(ctx context.Context, k string, v interface{}) {
	if st := g.state(ctx); st != nil {
		st.mu.Lock()
		if v == nil {
			delete(st.s.Values, k)
		} else {
			st.s.Values[k] = v
		}
		st.dirty = true
		st.mu.Unlock()
	}
}

// Key returns the session key, or "".
func (g *Gorilla) Key(ctx context.Context) string { return g.str(ctx, keyKey) }

// Account returns the signed-in account.
func (g *Gorilla) Account(ctx context.Context) (Account, bool) {
	if g.Key(ctx) == "" {
		return Account{}, false
	}
	return decodeAccount(g.str(ctx, keyAccount))
}

// Signed returns the signed-in session's key, account and times in one
// read (SignedReader).
func (g *Gorilla) Signed(ctx context.Context) (Signed, bool) {
	st := g.state(ctx)
	if st == nil {
		return Signed{}, false
	}
	st.mu.Lock()
	key, _ := st.s.Values[keyKey].(string)
	enc, _ := st.s.Values[keyAccount].(string)
	times, _ := st.s.Values[keyTimes].(string)
	st.mu.Unlock()
	if key == "" {
		return Signed{}, false
	}
	acct, ok := decodeAccount(enc)
	if !ok {
		return Signed{}, false
	}
	return Signed{Key: key, Account: acct, Times: decodeTimes(times)}, true
}

// SignIn starts a new session (a server-side store gives it a new id) and
// stores the account in it. An account field (or a key) holding a NUL byte
// is refused (ErrAccountNUL).
func (g *Gorilla) SignIn(ctx context.Context, key string, acct Account) error {
	st := g.state(ctx)
	if st == nil {
		return ErrNoSession
	}
	enc, err := encodeAccount(acct)
	if err != nil {
		return err
	}
	if strings.IndexByte(key, 0) >= 0 { // as SCS, which keeps the key beside the account
		return ErrAccountNUL
	}
	st.mu.Lock()
	st.s.ID = "" // server-side stores issue a new id on save
	st.s.Values = map[interface{}]interface{}{
		keyKey:     key,
		keyAccount: enc,
		keyCSRF:    RandomToken(),
	}
	st.s.IsNew = true
	st.dirty, st.destroy = true, false
	st.mu.Unlock()
	return nil
}

// SignOut deletes the session and its cookie.
func (g *Gorilla) SignOut(ctx context.Context) error {
	st := g.state(ctx)
	if st == nil {
		return ErrNoSession
	}
	st.mu.Lock()
	st.s.Values = map[interface{}]interface{}{}
	st.destroy, st.dirty = true, true
	st.mu.Unlock()
	return nil
}

// CSRFToken returns the anti-forgery token.
func (g *Gorilla) CSRFToken(ctx context.Context) string { return g.str(ctx, keyCSRF) }

// Times returns the session's sign-in and last-activity times.
func (g *Gorilla) Times(ctx context.Context) Times {
	if g.Key(ctx) == "" {
		return Times{}
	}
	return decodeTimes(g.str(ctx, keyTimes))
}

// SetTimes records the session's sign-in and last-activity times.
func (g *Gorilla) SetTimes(ctx context.Context, t Times) error {
	if g.state(ctx) == nil {
		return ErrNoSession
	}
	g.put(ctx, keyTimes, encodeTimes(t))
	return nil
}
