package identityweb

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
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

// signInKeys returns the ring that seals pending sign-ins: AppOptions'
// or, by default, a random key of this App alone.
func signInKeys(opts *AppOptions) *cachestore.KeyRing {
	if opts.SignInKeys != nil {
		return opts.SignInKeys
	}
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	return ring
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
	http.SetCookie(w, &http.Cookie{Name: pendingName(state), Value: base64.RawURLEncoding.EncodeToString(a.signInKeys.Seal(b, a.pendingAAD(state))),
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
	b, err := a.signInKeys.Open(sealed, a.pendingAAD(state))
	if err != nil || json.Unmarshal(b, &p) != nil {
		return pendingSignIn{}, false
	}
	if age := a.acq.clock.Now().Sub(p.Created); age < 0 || age > pendingLifetime {
		return pendingSignIn{}, false
	}
	return p, true
}
