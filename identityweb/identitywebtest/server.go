package identitywebtest

import (
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Server is a Provider listening on a random loopback port over HTTPS, for
// tests, in the manner of httptest.Server. Its methods include the
// Provider's (fault injection, request log, key rotation, …).
type Server struct {
	*Provider
	// URL is the base URL, https://127.0.0.1:port, with no trailing slash.
	URL string

	srv *httptest.Server
}

// NewServer starts a provider configured by opts and closes it when t's
// cleanup runs. It fails t if opts are not valid.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	p, err := NewProvider(opts)
	if err != nil {
		t.Fatalf("identitywebtest: %v", err)
	}
	srv := httptest.NewUnstartedServer(p)
	// Closing with connections open logs handshake noise; tests read the
	// request log instead.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	s := &Server{Provider: p, URL: srv.URL, srv: srv}
	t.Cleanup(s.Close)
	return s
}

// Close shuts the server down; it is safe to call more than once.
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Client returns a new *http.Client that trusts the server's certificate and
// shares one transport with every other client of this server. Being new,
// it may be changed (CheckRedirect, Jar, Timeout) without affecting others.
func (s *Server) Client() *http.Client {
	return &http.Client{Transport: s.srv.Client().Transport, Timeout: 30 * time.Second}
}

// Certificate returns the server's TLS certificate, to trust it elsewhere.
func (s *Server) Certificate() *x509.Certificate { return s.srv.Certificate() }

// Authority returns the authority URL of a tenant ("common", an id or a
// domain) as Microsoft.Identity.Web and MSAL take it: URL + "/" + tenant.
func (s *Server) Authority(tenant string) string { return s.URL + "/" + tenant }

// Issuer returns the v2.0 issuer of a tenant id, the "iss" of its tokens and
// the URL go-oidc discovers from.
func (s *Server) Issuer(tenantID string) string { return s.URL + "/" + tenantID + "/v2.0" }

// TokenEndpoint returns the token endpoint of a tenant.
func (s *Server) TokenEndpoint(tenant string) string {
	return s.URL + "/" + tenant + "/oauth2/v2.0/token"
}

// AuthorizeEndpoint returns the authorization endpoint of a tenant.
func (s *Server) AuthorizeEndpoint(tenant string) string {
	return s.URL + "/" + tenant + "/oauth2/v2.0/authorize"
}

// UserToken mints a delegated access token as if the app clientID had signed
// the user in and been granted scopes of the API resource (an identifier
// URI or client id); no consent is checked and no request is logged. Web
// API tests use it to call protected endpoints.
func (s *Server) UserToken(username, clientID, resource string, scopes ...string) (string, error) {
	return s.Provider.mintUser(s.URL, username, clientID, resource, scopes)
}

// AppToken mints an application token for clientID to the API resource with
// the given app roles, without a request.
func (s *Server) AppToken(clientID, resource string, roles ...string) (string, error) {
	return s.Provider.mintApp(s.URL, clientID, resource, roles)
}
