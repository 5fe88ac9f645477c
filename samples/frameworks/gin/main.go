// Command gin is the identityweb sample on gin: the web app's Handler
// (sessions and the sign-in routes) wraps the whole engine, and route
// middlewares go through the few lines of Middleware below.
//
//	go run ./samples/frameworks/gin    # http://localhost:5350, provider on :5351
package main

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/identityweb/go-identityweb/samples/frameworks"
)

// sample is this program; its test runs it too.
var sample = frameworks.Sample{Name: "gin", Addr: "localhost:5350", IdPAddr: "localhost:5351", Wire: wire}

func main() { sample.Main() }

// Middleware adapts a net/http middleware to gin: the rest of the chain
// runs inside it, with the request it passes on; when it answers by itself
// (a redirect to sign in, a 401) the chain stops.
func Middleware(mw func(http.Handler) http.Handler) gin.HandlerFunc {
	return func(c *gin.Context) {
		called := false
		mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			called = true
			c.Request = r
			c.Next()
		})).ServeHTTP(c.Writer, c.Request)
		if !called {
			c.Abort()
		}
	}
}

// wire mounts the shared routes on a gin engine. apps.Web.Handler wraps the
// whole engine, because gin hands its own writer to handlers and the
// session must see what they write.
func wire(apps *frameworks.Apps) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	g := gin.New()
	g.GET("/", gin.WrapF(apps.Home))
	g.GET("/me", Middleware(apps.Web.RequireUser), gin.WrapF(apps.Me))
	g.GET("/api", Middleware(apps.RequireAPI()), gin.WrapF(apps.HandleAPI))
	return apps.Web.Handler(g)
}
