package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/go-identityweb/identityweb/identitywebtest"
)

// app is a minimal OpenID Connect web app with server-side sessions.
type app struct {
	appURL   string
	idpURL   string
	client   *http.Client
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier

	mu       sync.Mutex
	pending  map[string]pendingSignIn // by state
	sessions map[string]*userSession  // by session cookie
}

type pendingSignIn struct {
	browser  string // the value of the browser-binding cookie
	nonce    string
	verifier string
	expires  time.Time
}

type userSession struct {
	Name, Username, ObjectID, TenantID string
	IDToken                            string
	CSRF                               string
}

const (
	sessionCookie = "webapp_session"
	bindCookie    = "webapp_signin"
)

func newApp(ctx context.Context, appURL, idpURL string, client *http.Client) (*app, error) {
	tenant := identitywebtest.DefaultTenantID
	ctx = oidc.ClientContext(ctx, client)
	provider, err := oidc.NewProvider(ctx, idpURL+"/"+tenant+"/v2.0")
	if err != nil {
		return nil, err
	}
	return &app{
		appURL: appURL, idpURL: idpURL, client: client,
		oauth: &oauth2.Config{
			ClientID: identitywebtest.WebAppClientID, ClientSecret: identitywebtest.WebAppSecret,
			Endpoint: provider.Endpoint(), RedirectURL: appURL + "/signin-oidc",
			Scopes: []string{oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess},
		},
		verifier: provider.Verifier(&oidc.Config{ClientID: identitywebtest.WebAppClientID}),
		pending:  map[string]pendingSignIn{}, sessions: map[string]*userSession{},
	}, nil
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /signin", a.signIn)
	mux.HandleFunc("GET /signin-oidc", a.callback)
	mux.HandleFunc("POST /signout", a.signOut)
	mux.HandleFunc("GET /signout-callback-oidc", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/", http.StatusFound)
	})
	return mux
}

func random() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (a *app) session(r *http.Request) *userSession {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sessions[c.Value]
}

var homePage = template.Must(template.New("home").Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>identityweb sample</title><style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto}</style></head><body>
<h1>identityweb sample web app</h1>
{{if .}}<p id="greeting">Hello, {{.Name}}!</p>
<table><tr><th>Username</th><td id="username">{{.Username}}</td></tr><tr><th>Object id</th><td>{{.ObjectID}}</td></tr>
<tr><th>Tenant id</th><td>{{.TenantID}}</td></tr></table>
<form method="post" action="/signout"><input type="hidden" name="csrf" value="{{.CSRF}}"><button id="signout">Sign out</button></form>
{{else}}<p>You are not signed in.</p><p><a id="signin" href="/signin">Sign in</a></p>{{end}}
</body></html>`))

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	homePage.Execute(w, a.session(r))
}

func (a *app) signIn(w http.ResponseWriter, r *http.Request) {
	state, bind := random(), random()
	p := pendingSignIn{browser: bind, nonce: random(), verifier: oauth2.GenerateVerifier(), expires: time.Now().Add(10 * time.Minute)}
	a.mu.Lock()
	for k, v := range a.pending {
		if time.Now().After(v.expires) {
			delete(a.pending, k)
		}
	}
	a.pending[state] = p
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: bindCookie, Value: bind, Path: "/signin-oidc", HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: 600})
	http.Redirect(w, r, a.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(p.verifier), oidc.Nonce(p.nonce)), http.StatusFound)
}

func (a *app) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	a.mu.Lock()
	p, ok := a.pending[state]
	delete(a.pending, state)
	a.mu.Unlock()
	c, err := r.Cookie(bindCookie)
	if !ok || err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(p.browser)) != 1 || time.Now().After(p.expires) {
		http.Error(w, "The sign-in request is not valid or has expired. Go back and sign in again.", http.StatusBadRequest)
		return
	}
	if q.Get("error") != "" {
		http.Error(w, "Sign-in was not completed.", http.StatusUnauthorized)
		return
	}
	ctx := oidc.ClientContext(r.Context(), a.client)
	tok, err := a.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p.verifier))
	if err != nil {
		http.Error(w, "Sign-in failed.", http.StatusUnauthorized)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := a.verifier.Verify(ctx, raw)
	if err != nil || idt.Nonce != p.nonce {
		http.Error(w, "Sign-in failed.", http.StatusUnauthorized)
		return
	}
	var claims struct {
		Name              string `json:"name"`
		PreferredUsername string `json:"preferred_username"`
		Oid               string `json:"oid"`
		Tid               string `json:"tid"`
	}
	idt.Claims(&claims)
	sid := random()
	a.mu.Lock()
	a.sessions[sid] = &userSession{Name: claims.Name, Username: claims.PreferredUsername, ObjectID: claims.Oid,
		TenantID: claims.Tid, IDToken: raw, CSRF: random()}
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: bindCookie, Path: "/signin-oidc", MaxAge: -1})
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sid, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusFound)
}

func (a *app) signOut(w http.ResponseWriter, r *http.Request) {
	s := a.session(r)
	if s == nil || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.CSRF)) != 1 {
		http.Error(w, "Forbidden.", http.StatusForbidden)
		return
	}
	c, _ := r.Cookie(sessionCookie)
	a.mu.Lock()
	delete(a.sessions, c.Value)
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1})
	q := url.Values{"post_logout_redirect_uri": {a.appURL + "/signout-callback-oidc"}, "id_token_hint": {s.IDToken}}
	http.Redirect(w, r, a.idpURL+"/"+identitywebtest.DefaultTenantID+"/oauth2/v2.0/logout?"+q.Encode(), http.StatusFound)
}
