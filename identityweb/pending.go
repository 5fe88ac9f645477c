package identityweb

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
)

// pendingSignIn is a sign-in in progress: what the callback needs to
// complete it. It travels in a short-lived cookie sealed with the app's
// SignInKeys, never in the server-side session: an anonymous visitor costs
// the server no memory however many sign-ins it starts.
type pendingSignIn struct {
	Verifier string    `json:"v"`
	Nonce    string    `json:"n"`
	Return   string    `json:"r"`
	Scopes   []string  `json:"s,omitempty"`
	Claims   string    `json:"c,omitempty"`
	Created  time.Time `json:"t"`
}

const (
	// pendingLifetime bounds how long a sign-in may take.
	pendingLifetime = 15 * time.Minute
	// pendingCookie prefixes the cookie of one sign-in in progress; the
	// first characters of its state complete the name, so that sign-ins
	// started in several tabs do not overwrite each other.
	pendingCookie = "idw_signin_"
	// maxPendingCookies bounds the sign-ins a browser has in progress: past
	// it, starting another forgets the others.
	maxPendingCookies = 5
	// maxReturnURL bounds the return path a pending sign-in carries (a
	// cookie holds about 4 KB); a longer one returns home.
	maxReturnURL = 2048
)

// signInRing is the key ring that seals pending sign-ins: AppOptions'
// SignInKeys, or by default a key kept in the token cache, so that every
// instance sharing the cache (Redis through cachestore.Tiered, encrypted at
// rest when the cache is) seals and opens with the same key and a sign-in
// started on one instance completes on any. Instances re-read it every
// 10 minutes and keep the key they knew before as a second key, so a key
// that expired and was replaced does not break sign-ins in flight.
type signInRing struct {
	fixed *cachestore.KeyRing // AppOptions.SignInKeys

	mu      sync.Mutex
	ring    *cachestore.KeyRing
	current []byte
	readAt  time.Time
}

const (
	signInKeyTTL     = 365 * 24 * time.Hour
	signInKeyRecheck = 10 * time.Minute
)

// get returns the ring to use now.
func (s *signInRing) get(ctx context.Context, a *App) *cachestore.KeyRing {
	if s.fixed != nil {
		return s.fixed
	}
	now := a.acq.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ring != nil && now.Sub(s.readAt) < signInKeyRecheck {
		return s.ring
	}
	key := a.sharedSignInKey(ctx)
	if key == nil { // the cache cannot keep it: this App's own key
		if s.ring != nil {
			return s.ring
		}
		key = cachestore.NewKey()
	}
	keys := [][]byte{key}
	if s.current != nil && string(s.current) != string(key) {
		keys = append(keys, s.current)
	}
	if ring, err := cachestore.NewKeyRing(keys...); err == nil {
		s.ring, s.current, s.readAt = ring, key, now
	}
	return s.ring
}

// sharedSignInKey reads the sign-in key from the token cache, adding a new
// one when there is none (the first instance's key wins); nil when the cache
// cannot add atomically or cannot be reached.
func (a *App) sharedSignInKey(ctx context.Context) []byte {
	adder, ok := a.acq.cache.(cachestore.Adder)
	if !ok {
		return nil
	}
	name := "idw-signin-key|" + a.cfg.ClientID
	for range 2 {
		if v, found, err := a.acq.cache.Get(ctx, name); err == nil && found && len(v) == 32 {
			return bytes.Clone(v)
		}
		if added, err := adder.Add(ctx, name, cachestore.NewKey(), signInKeyTTL); err != nil {
			return nil
		} else if added {
			continue // read back what was stored (another instance may have raced)
		}
	}
	return nil
}

func pendingName(state string) string { return pendingCookie + state[:16] }

// pendingAAD binds a sealed sign-in to its app and its full state value.
func (a *App) pendingAAD(state string) []byte {
	return []byte("idw-signin\x00" + a.cfg.ClientID + "\x00" + state)
}

// putPending sets the cookie of a new sign-in (state is a fresh random
// value), first forgetting the browser's others when it has too many.
func (a *App) putPending(w http.ResponseWriter, r *http.Request, state string, p *pendingSignIn) {
	secure := strings.HasPrefix(a.publicURL(r), "https://")
	var open []string
	for _, c := range r.Cookies() {
		if strings.HasPrefix(c.Name, pendingCookie) {
			open = append(open, c.Name)
		}
	}
	if len(open) >= maxPendingCookies {
		for _, name := range open {
			http.SetCookie(w, &http.Cookie{Name: name, Path: "/", MaxAge: -1, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
		}
	}
	b, _ := json.Marshal(p)
	http.SetCookie(w, &http.Cookie{Name: pendingName(state), Value: base64.RawURLEncoding.EncodeToString(a.signInKeys.get(r.Context(), a).Seal(b, a.pendingAAD(state))),
		Path: "/", MaxAge: int(pendingLifetime / time.Second), HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
}

// takePending returns the sign-in of state and removes its cookie. It
// fails for a state it did not issue, a cookie sealed by another app or
// another key (another instance without shared SignInKeys), tampered or
// past pendingLifetime.
func (a *App) takePending(w http.ResponseWriter, r *http.Request, state string) (pendingSignIn, bool) {
	var p pendingSignIn
	if len(state) < 16 || len(state) > 256 {
		return p, false
	}
	c, err := r.Cookie(pendingName(state))
	if err != nil {
		return p, false
	}
	http.SetCookie(w, &http.Cookie{Name: c.Name, Path: "/", MaxAge: -1, HttpOnly: true, Secure: strings.HasPrefix(a.publicURL(r), "https://"), SameSite: http.SameSiteLaxMode})
	sealed, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return p, false
	}
	b, err := a.signInKeys.get(r.Context(), a).Open(sealed, a.pendingAAD(state))
	if err != nil || json.Unmarshal(b, &p) != nil {
		return pendingSignIn{}, false
	}
	if age := a.acq.clock.Now().Sub(p.Created); age < 0 || age > pendingLifetime {
		return pendingSignIn{}, false
	}
	return p, true
}
