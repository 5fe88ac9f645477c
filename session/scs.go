package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/alexedwards/scs/v2"
)

// SCSOptions configure the scs adapter; the zero value is safe.
type SCSOptions struct {
	// InsecureAllowHTTPCookies leaves the Secure flag off the session cookie
	// so that http://localhost works in development. Default: Secure.
	InsecureAllowHTTPCookies bool
}

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
	keyPending = "idw.pending."
	maxPending = 5 // sign-in requests in progress per browser
)

// NewSCS wraps sm (nil: scs.New(), in-memory) and sets its cookie to
// HttpOnly, SameSite=Lax and Secure (unless InsecureAllowHTTPCookies). When
// sm uses scs's default gob codec it is replaced by a compatible, much
// faster one for sessions of strings and bytes (others still use gob).
func NewSCS(sm *scs.SessionManager, opts SCSOptions) *SCS {
	if sm == nil {
		sm = scs.New()
	}
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = !opts.InsecureAllowHTTPCookies
	if _, isGob := sm.Codec.(scs.GobCodec); isGob {
		sm.Codec = fastCodec{}
	}
	if sm.Cookie.Name == "session" {
		sm.Cookie.Name = "idw_session"
	}
	return &SCS{sm: sm}
}

// Middleware loads and saves the session (scs LoadAndSave).
func (s *SCS) Middleware(next http.Handler) http.Handler { return s.sm.LoadAndSave(next) }

// Key returns the session key, or "" when not signed in.
func (s *SCS) Key(ctx context.Context) string { return s.sm.GetString(ctx, keyKey) }

// Account returns the signed-in account.
func (s *SCS) Account(ctx context.Context) (Account, bool) {
	if s.Key(ctx) == "" {
		return Account{}, false
	}
	parts := strings.SplitN(s.sm.GetString(ctx, keyAccount), "\x00", 4)
	if len(parts) != 4 {
		return Account{}, false
	}
	return Account{ObjectID: parts[0], TenantID: parts[1], Username: parts[2], Name: parts[3]}, true
}

// SignIn renews the token, clears what the anonymous session held, and
// stores the account.
func (s *SCS) SignIn(ctx context.Context, key string, acct Account) error {
	if err := s.sm.RenewToken(ctx); err != nil {
		return err
	}
	for _, k := range s.sm.Keys(ctx) {
		if strings.HasPrefix(k, keyPending) {
			s.sm.Remove(ctx, k)
		}
	}
	s.sm.Put(ctx, keyKey, key)
	s.sm.Put(ctx, keyAccount, strings.Join([]string{acct.ObjectID, acct.TenantID, acct.Username, acct.Name}, "\x00"))
	s.sm.Put(ctx, keyCSRF, RandomToken())
	return nil
}

// SignOut destroys the session.
func (s *SCS) SignOut(ctx context.Context) error { return s.sm.Destroy(ctx) }

// CSRFToken returns the anti-forgery token.
func (s *SCS) CSRFToken(ctx context.Context) string { return s.sm.GetString(ctx, keyCSRF) }

// PutPending keeps a sign-in request; the oldest is dropped past a few.
func (s *SCS) PutPending(ctx context.Context, state string, data []byte) {
	var pending []string
	for _, k := range s.sm.Keys(ctx) {
		if strings.HasPrefix(k, keyPending) {
			pending = append(pending, k)
		}
	}
	if len(pending) >= maxPending {
		for _, k := range pending {
			s.sm.Remove(ctx, k)
		}
	}
	s.sm.Put(ctx, keyPending+state, data)
}

// TakePending returns and removes a sign-in request.
func (s *SCS) TakePending(ctx context.Context, state string) ([]byte, bool) {
	if state == "" {
		return nil, false
	}
	b := s.sm.PopBytes(ctx, keyPending+state)
	return b, b != nil
}

// RandomToken returns 32 random bytes, base64url.
func RandomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
