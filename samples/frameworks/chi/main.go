// Command chi is the identityweb sample on the chi router: chi takes
// identityweb's middlewares as they are.
//
//	go run ./samples/frameworks/chi    # http://localhost:5330, provider on :5331
package main

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/identityweb/go-identityweb/samples/frameworks"
)

// sample is this program; its test runs it too.
var sample = frameworks.Sample{Name: "chi", Addr: "localhost:5330", IdPAddr: "localhost:5331", Wire: wire}

func main() { sample.Main() }

// wire mounts the shared routes on a chi router.
func wire(apps *frameworks.Apps) http.Handler {
	r := chi.NewRouter()
	r.Use(apps.Web.Handler) // sessions and /signin-oidc, /signout, …
	r.Get("/", apps.Home)
	r.With(apps.Web.RequireUser).Get("/me", apps.Me)
	r.With(apps.RequireAPI()).Get("/api", apps.HandleAPI)
	return r
}
