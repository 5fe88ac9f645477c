package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/alexedwards/scs/v2"
)

// SCSOptions configure the scs adapter; the zero value is safe. They apply
// only to a manager NewSCS creates: a manager the app passes in is never
// changed.
type SCSOptions struct {
	// InsecureAllowHTTPCookies leaves the Secure flag off the session cookie
	// so that http://localhost works in development. Default: Secure.
	InsecureAllowHTTPCookies bool
}

// ErrNoSession: the request context did not pass through the session
// middleware (Middleware, or the app's own scs LoadAndSave).
var ErrNoSession = errors.New("session: no session in the request context: wrap the handler with the session middleware")

// ErrUnusableManager: an app's session manager is configured in a way
// sign-in cannot work with, or that would expose the session.
var ErrUnusableManager = errors.New("session: the session manager cannot be used for sign-in")

// SCS is a Manager over alexedwards/scs/v2: the data stays on the server
// (memory by default; Redis, SQL… through scs stores) and the cookie holds
// only scs's random token.
type SCS struct {
	sm *scs.SessionManager
}

const (
	keyKey     = "idw.key"
	keyAccount = "idw.account"
	keyCSRF    = "idw.csrf"
	keyPending = "idw.pending." // sign-ins in progress, kept here by earlier versions
)

// NewSCS adapts an scs session manager.
//
// With sm nil it creates one for identityweb alone: scs's in-memory store,
// cookie "idw_session", HttpOnly, SameSite=Lax, Secure (unless
// InsecureAllowHTTPCookies), and a codec much faster than gob for sessions
// of strings and bytes.
//
// A manager the app passes in is adopted as it is — its cookie name, flags,
// codec, store and live sessions are left alone, so adopting it signs no one
// out — after checking that sign-in can work with it: the cookie must be
// HttpOnly (scripts must not read the session token) and not SameSite=Strict
// (the provider's redirect back to the app is a cross-site navigation that a
// Strict cookie does not follow). Otherwise the error matches
// ErrUnusableManager and says what to change.
func NewSCS(sm *scs.SessionManager, opts SCSOptions) (*SCS, error) {
	if sm == nil {
		sm = scs.New()
		sm.Cookie.Name = "idw_session"
		sm.Cookie.HttpOnly = true
		sm.Cookie.SameSite = http.SameSiteLaxMode
		sm.Cookie.Secure = !opts.InsecureAllowHTTPCookies
		sm.Codec = fastCodec{}
		return &SCS{sm: sm}, nil
	}
	if !sm.Cookie.HttpOnly {
		return nil, fmt.Errorf("%w: set Cookie.HttpOnly = true", ErrUnusableManager)
	}
	if sm.Cookie.SameSite == http.SameSiteStrictMode {
		return nil, fmt.Errorf("%w: Cookie.SameSite Strict drops the cookie on the provider's redirect back; use Lax", ErrUnusableManager)
	}
	return &SCS{sm: sm}, nil
}

// Manager returns the scs session manager, for the app's own session data
// (identityweb's keys all start with "idw.").
func (s *SCS) Manager() *scs.SessionManager { return s.sm }

// Middleware loads and saves the session (scs LoadAndSave). An app whose
// own LoadAndSave of the same manager is outermost does not need it.
func (s *SCS) Middleware(next http.Handler) http.Handler { return s.sm.LoadAndSave(next) }

// Loaded reports whether ctx carries the manager's session data.
func (s *SCS) Loaded(ctx context.Context) (ok bool) {
	defer func() {
		if recover() != nil { // scs panics on a context it did not load
			ok = false
		}
	}()
	s.sm.Status(ctx)
	return true
}

// read returns the session's state: its one value, or the separate values
// of a session signed in before it. False when not signed in or when ctx
// did not pass the session middleware.
func (s *SCS) read(ctx context.Context) (st state, ok bool) {
	defer func() {
		if recover() != nil { // scs panics on a context it did not load
			st, ok = state{}, false
		}
	}()
	if v := s.sm.GetString(ctx, keyState); v != "" {
		return decodeState(v)
	}
	st.key = s.sm.GetString(ctx, keyKey)
	if st.key == "" {
		return state{}, false
	}
	st.acct, st.accountOK = decodeAccount(s.sm.GetString(ctx, keyAccount))
	st.csrf = s.sm.GetString(ctx, keyCSRF)
	st.times = decodeTimes(s.sm.GetString(ctx, keyTimes))
	return st, true
}

// Key returns the session key, or "" when not signed in or when ctx did not
// pass the session middleware.
func (s *SCS) Key(ctx context.Context) string {
	st, _ := s.read(ctx)
	return st.key
}

// Account returns the signed-in account.
func (s *SCS) Account(ctx context.Context) (Account, bool) {
	st, ok := s.read(ctx)
	if !ok || !st.accountOK {
		return Account{}, false
	}
	return st.acct, true
}

// Signed returns the signed-in session's key, account and times in one
// read (SignedReader).
func (s *SCS) Signed(ctx context.Context) (Signed, bool) {
	st, ok := s.read(ctx)
	if !ok || !st.accountOK {
		return Signed{}, false
	}
	return Signed{Key: st.key, Account: st.acct, Times: st.times}, true
}

// SignIn renews the token, clears what the anonymous session held, and
// stores the key and the account. An account field (or a key) holding a
// NUL byte is refused (ErrAccountNUL).
func (s *SCS) SignIn(ctx context.Context, key string, acct Account) error {
	if !s.Loaded(ctx) {
		return ErrNoSession
	}
	enc, err := state{key: key, csrf: RandomToken(), acct: acct}.encode()
	if err != nil {
		return err
	}
	if err := s.sm.RenewToken(ctx); err != nil {
		return err
	}
	for _, k := range s.sm.Keys(ctx) {
		if strings.HasPrefix(k, keyPending) {
			s.sm.Remove(ctx, k)
		}
	}
	for _, k := range [...]string{keyKey, keyAccount, keyCSRF, keyTimes} {
		s.sm.Remove(ctx, k)
	}
	s.sm.Put(ctx, keyState, enc)
	return nil
}

// SignOut destroys the session.
func (s *SCS) SignOut(ctx context.Context) error {
	if !s.Loaded(ctx) {
		return ErrNoSession
	}
	return s.sm.Destroy(ctx)
}

// CSRFToken returns the anti-forgery token.
func (s *SCS) CSRFToken(ctx context.Context) string {
	st, _ := s.read(ctx)
	return st.csrf
}

// Times returns the session's sign-in and last-activity times.
func (s *SCS) Times(ctx context.Context) Times {
	st, _ := s.read(ctx) // SignIn clears them, SignOut destroys them
	return st.times
}

// SetTimes records the session's sign-in and last-activity times.
func (s *SCS) SetTimes(ctx context.Context, t Times) error {
	if !s.Loaded(ctx) {
		return ErrNoSession
	}
	if v := s.sm.GetString(ctx, keyState); v != "" {
		if st, ok := decodeState(v); ok {
			st.times = t
			enc, err := st.encode()
			if err != nil {
				return err
			}
			s.sm.Put(ctx, keyState, enc)
			return nil
		}
	}
	s.sm.Put(ctx, keyTimes, encodeTimes(t))
	return nil
}

// RandomToken returns 32 random bytes, base64url.
func RandomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
