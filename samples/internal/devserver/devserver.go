// Package devserver holds what the samples other than the web app template
// share to start: listening with a clear message when a port is taken, the
// development identity provider on its fixed loopback address, and a
// graceful stop. (samples/webapp, meant to be copied out as the start of a
// new app, has its own few lines instead.)
package devserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// Listen listens on addr. When the port is taken, the error says so and
// names flag, the command-line flag that chooses another address.
func Listen(addr, flag string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%s is in use: is the sample already running? Stop it, or choose another address with -%s localhost:PORT", addr, flag)
	}
	return ln, err
}

// StartIdP serves the development identity provider on addr (see
// identitywebtest.StartLocal). When the port is taken, the error says so
// and names flag, the command-line flag that chooses another address.
func StartIdP(addr, flag string, opts identitywebtest.LocalOptions) (*identitywebtest.Local, error) {
	idp, err := identitywebtest.StartLocal(addr, opts)
	if errors.Is(err, identitywebtest.ErrAddressInUse) {
		return nil, fmt.Errorf("the development identity provider cannot start: %s is in use. Stop what uses it (another copy of the sample?), or choose another address with -%s localhost:PORT", addr, flag)
	}
	return idp, err
}

// URL is the base URL of a server listening on ln that was asked to listen
// on addr: addr's host name (localhost stays localhost) and ln's port.
func URL(scheme, addr string, ln net.Listener) string {
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	host, _, _ := net.SplitHostPort(addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// Wait returns srv's own error when it stops by itself, or shuts it down
// gracefully (5 s at most) once ctx ends.
func Wait(ctx context.Context, srv *http.Server, errc <-chan error) error {
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
