// Package frameworks shows identityweb wired into chi, echo and gin. Every
// identityweb middleware is a func(http.Handler) http.Handler: chi takes it
// as is, echo through echo.WrapMiddleware, gin through the few lines of
// Gin below (with app.Handler around the engine). The same routes in each:
//
//	GET  /       public
//	GET  /me     signed-in users: their name and a token for the web API
//	GET  /api    bearer-protected (scope access_as_user): the caller's name
//	POST /signout, /signin-oidc, … served by app.Handler
package frameworks

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/labstack/echo/v4"

	"github.com/identityweb/go-identityweb/identityweb"
)

// APIScope is the scope /me asks a token for.
const APIScope = "api://22222222-0000-4000-8000-000000000002/access_as_user"

func me(app *identityweb.App, w http.ResponseWriter, r *http.Request) {
	acct, _ := identityweb.AccountFromContext(r.Context())
	res, err := app.Token(r.Context(), identityweb.AsUser, []string{APIScope})
	if err != nil {
		app.Challenge(w, r, err)
		return
	}
	fmt.Fprintf(w, "hello %s, token from %s, csrf=%s;", acct.Name, res.Metadata.Source, app.CSRFToken(r))
}

// api answers with the caller's name after getting a Graph token on their
// behalf (OBO).
func api(webAPI *identityweb.App) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, _ := identityweb.ClaimsFromContext(r.Context())
		if _, err := webAPI.Token(r.Context(), identityweb.OnBehalfOf, []string{"User.Read"}); err != nil {
			webAPI.Challenge(w, r, err)
			return
		}
		fmt.Fprintf(w, "api caller %s, obo ok", c.Name)
	}
}

// Chi wires app into a chi router.
func Chi(web, webAPI *identityweb.App) http.Handler {
	r := chi.NewRouter()
	r.Use(web.Handler)
	r.Get("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "public") })
	r.With(web.RequireUser).Get("/me", func(w http.ResponseWriter, r *http.Request) { me(web, w, r) })
	r.With(webAPI.RequireBearer(identityweb.RequireScopes("access_as_user"))).Get("/api", api(webAPI))
	return r
}

// Echo wires app into an echo server.
func Echo(web, webAPI *identityweb.App) http.Handler {
	e := echo.New()
	e.HideBanner = true
	e.Use(echo.WrapMiddleware(web.Handler))
	e.GET("/", func(c echo.Context) error { return c.String(http.StatusOK, "public") })
	e.GET("/me", func(c echo.Context) error {
		me(web, c.Response(), c.Request())
		return nil
	}, echo.WrapMiddleware(web.RequireUser))
	e.GET("/api", echo.WrapHandler(api(webAPI)), echo.WrapMiddleware(webAPI.RequireBearer(identityweb.RequireScopes("access_as_user"))))
	return e
}

// Gin adapts a net/http middleware to gin: the rest of the chain runs
// inside it, with the request it passes on; when it answers by itself
// (redirect, 401) the chain stops.
func Gin(mw func(http.Handler) http.Handler) gin.HandlerFunc {
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

// GinEngine wires app into a gin engine. app.Handler (sessions and the
// sign-in routes) wraps the whole engine, because gin hands its own writer
// to handlers and the session must see what they write; route middlewares
// go through Gin.
func GinEngine(web, webAPI *identityweb.App) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	g := gin.New()
	g.GET("/", func(c *gin.Context) { c.String(http.StatusOK, "public") })
	g.GET("/me", Gin(web.RequireUser), func(c *gin.Context) { me(web, c.Writer, c.Request) })
	g.GET("/api", Gin(webAPI.RequireBearer(identityweb.RequireScopes("access_as_user"))), func(c *gin.Context) { api(webAPI)(c.Writer, c.Request) })
	return web.Handler(g)
}
