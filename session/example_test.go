package session_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/redis/go-redis/v9"

	"github.com/identityweb/go-identityweb/session"
)

// With no manager, NewSCS creates one for identityweb alone, with the
// cookie flags sign-in needs.
func ExampleNewSCS() {
	s, err := session.NewSCS(nil, session.SCSOptions{})
	if err != nil {
		panic(err)
	}
	h := s.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Manager().Put(r.Context(), "cart", "3 items") // the app's own data
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "https://app.example/", nil))
	c := w.Result().Cookies()[0]
	fmt.Println(c.Name, c.HttpOnly, c.Secure, c.SameSite == http.SameSiteLaxMode)
	// Output: idw_session true true true
}

// An app's own scs manager is adopted as it is: its cookie, codec, store
// and live sessions do not change. (In production its Store is typically
// scs's Redis store, shared by every instance.)
func ExampleNewSCS_adopt() {
	sm := scs.New()
	sm.Cookie.Name = "myapp"
	s, err := session.NewSCS(sm, session.SCSOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Manager() == sm, sm.Cookie.Name)

	strict := scs.New()
	strict.Cookie.SameSite = http.SameSiteStrictMode
	_, err = session.NewSCS(strict, session.SCSOptions{})
	fmt.Println(err != nil)
	// Output:
	// true myapp
	// true
}

// Sessions in Redis, shared by every instance of the app: an scs manager
// with scs's go-redis store, adopted as it is. A session signed in on one
// instance is read on another.
func ExampleNewSCS_redis() {
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	instance := func() *session.SCS {
		sm := scs.New()
		sm.Store = goredisstore.New(rdb)
		sm.Cookie.Name = "myapp"
		s, err := session.NewSCS(sm, session.SCSOptions{})
		if err != nil {
			panic(err)
		}
		return s
	}
	a, b := instance(), instance()
	w := httptest.NewRecorder()
	a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.SignIn(r.Context(), "session-key", session.Account{Name: "Alice"})
	})).ServeHTTP(w, httptest.NewRequest("GET", "https://app.example/", nil))

	r := httptest.NewRequest("GET", "https://app.example/", nil)
	r.AddCookie(w.Result().Cookies()[0])
	b.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acct, ok := b.Account(r.Context())
		fmt.Println(acct.Name, ok)
	})).ServeHTTP(httptest.NewRecorder(), r)
	// Output: Alice true
}
