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

// Key returns the session key, or "" when not signed in or when ctx did not
// pass the session middleware.
func (s *SCS) Key(ctx context.Context) (key string) {
	defer func() {
		if recover() != nil {
			key = ""
		}
	}()
	return s.sm.GetString(ctx, keyKey)
}

// Account returns the signed-in account.
func (s *SCS) Account(ctx context.Context) (Account, bool) {
	if s.Key(ctx) == "" {
		return Account{}, false
	}
	return decodeAccount(s.sm.GetString(ctx, keyAccount))
}

// SignIn renews the token, clears what the anonymous session held, and
// stores the account. An account field holding a NUL byte is refused
// (ErrAccountNUL).
func (s *SCS) SignIn(ctx context.Context, key string, acct Account) error {
	if !s.Loaded(ctx) {
		return ErrNoSession
	}
	enc, err := encodeAccount(acct)
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
	s.sm.Remove(ctx, keyTimes)
	s.sm.Put(ctx, keyKey, key)
	s.sm.Put(ctx, keyAccount, enc)
	s.sm.Put(ctx, keyCSRF, RandomToken())
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
	if s.Key(ctx) == "" {
		return ""
	}
	return s.sm.GetString(ctx, keyCSRF)
}

// Times returns the session's sign-in and last-activity times.
func (s *SCS) Times(ctx context.Context) (t Times) {
	defer func() {
		if recover() != nil { // scs panics on a context it did not load
			t = Times{}
		}
	}()
	return decodeTimes(s.sm.GetString(ctx, keyTimes)) // SignIn clears it, SignOut destroys it
}

// SetTimes records the session's sign-in and last-activity times.
func (s *SCS) SetTimes(ctx context.Context, t Times) error {
	if !s.Loaded(ctx) {
		return ErrNoSession
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
