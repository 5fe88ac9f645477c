package session_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/alexedwards/scs/v2"

	"github.com/identityweb/go-identityweb/session"
)

// scs keeps the data server-side; NewSCS sets the cookie flags identityweb
// needs. Pass it as identityweb.Options.Sessions.
func ExampleNewSCS() {
	sm := scs.New() // in production: sm.Store = redisstore.New(pool) (scs's Redis store)
	s := session.NewSCS(sm, session.SCSOptions{})
	h := s.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.PutPending(r.Context(), "state", []byte("sign-in in progress"))
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "https://app.example/", nil))
	c := w.Result().Cookies()[0]
	fmt.Println(c.Name, c.HttpOnly, c.Secure, c.SameSite == http.SameSiteLaxMode)
	// Output: idw_session true true true
}
