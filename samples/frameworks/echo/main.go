// Command echo is the identityweb sample on echo: identityweb's
// middlewares go through echo.WrapMiddleware, its handlers through
// echo.WrapHandler.
//
//	go run ./samples/frameworks/echo    # http://localhost:5340, provider on :5341
package main

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/identityweb/go-identityweb/samples/frameworks"
)

// sample is this program; its test runs it too.
var sample = frameworks.Sample{Name: "echo", Addr: "localhost:5340", IdPAddr: "localhost:5341", Wire: wire}

func main() { sample.Main() }

// wire mounts the shared routes on an echo server.
func wire(apps *frameworks.Apps) http.Handler {
	e := echo.New()
	e.HideBanner = true
	e.Use(echo.WrapMiddleware(apps.Web.Handler)) // sessions and /signin-oidc, /signout, …
	e.GET("/", echo.WrapHandler(http.HandlerFunc(apps.Home)))
	e.GET("/me", echo.WrapHandler(http.HandlerFunc(apps.Me)), echo.WrapMiddleware(apps.Web.RequireUser))
	e.GET("/api", echo.WrapHandler(http.HandlerFunc(apps.HandleAPI)), echo.WrapMiddleware(apps.RequireAPI()))
	return e
}
