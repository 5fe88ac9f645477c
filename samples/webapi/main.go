// Command webapi is a protected web API that calls another API on behalf of
// its caller. With no configuration it starts the development identity
// provider on http://localhost:5321 and the API on http://localhost:5320,
// and prints curl commands, ready to paste into a shell, that get an app
// token and a user token from the provider and call each route.
//
//	go run ./samples/webapi
//	go run ./samples/webapi -addr localhost:8080 -idp-addr localhost:8081
//
// Routes:
//
//	GET /todos     users with scope access_as_user, or apps with role Todo.Read.All
//	GET /profile   users only: gets a Graph token on behalf of the caller (OBO)
//	               and calls Graph's /me with it (in development: a stand-in
//	               for Graph that this program serves at /graph)
//
// With Entra settings (AzureAd__Instance, AzureAd__TenantId,
// AzureAd__ClientId) it protects itself with that registration; validating
// tokens needs no client credential. /profile answers 501 until GRAPH_URL
// is set (https://graph.microsoft.com/v1.0 for Microsoft Graph): calling
// Graph on behalf of the caller does need one (AzureAd__ClientSecret or
// AZURE_CLIENT_CERTIFICATE_PATH).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/identityweb/go-identityweb/identityweb"
	"github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/samples/internal/devserver"
)

// The sample's addresses: fixed, next to the web app's (5310, 5311).
const (
	defaultAddr    = "localhost:5320"
	defaultIdPAddr = "localhost:5321"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "webapi:", err)
		os.Exit(1)
	}
}

// started is what run reports once it listens (tests use it).
type started struct {
	url string
	idp *identitywebtest.Local // nil with Entra settings
}

const graphHelp = "set GRAPH_URL (https://graph.microsoft.com/v1.0 for Microsoft Graph) and a client credential (AzureAd__ClientSecret or AZURE_CLIENT_CERTIFICATE_PATH), then restart"

func run(ctx context.Context, args []string, out io.Writer, ready chan<- started) error {
	fs := flag.NewFlagSet("webapi", flag.ContinueOnError)
	fs.SetOutput(out)
	addr := fs.String("addr", defaultAddr, "address of the API (loopback)")
	idpAddr := fs.String("idp-addr", defaultIdPAddr, "address of the development identity provider (loopback)")
	idpHTTPS := fs.Bool("idp-https", false, "serve the development identity provider over HTTPS with a self-signed certificate")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg, err := identityweb.LoadConfig("", "AzureAd")
	if err != nil {
		return err
	}
	opts := identityweb.AppOptions{Options: identityweb.Options{Logger: logger}}
	graphURL := os.Getenv("GRAPH_URL")
	if cfg.ClientID != "" && graphURL != "" && cfg.ClientSecret == "" && len(cfg.ClientCredentials) == 0 {
		return fmt.Errorf("GRAPH_URL is set: /profile calls it on behalf of the caller, which needs this API's client credential. Set AzureAd__ClientSecret or AZURE_CLIENT_CERTIFICATE_PATH, or unset GRAPH_URL")
	}
	ln, err := devserver.Listen(*addr, "addr")
	if err != nil {
		return err
	}
	defer ln.Close()
	base := devserver.URL("http", *addr, ln)
	mux := http.NewServeMux()
	var idp *identitywebtest.Local
	if cfg.ClientID == "" { // no Entra settings: the development identity provider
		idp, err = devserver.StartIdP(*idpAddr, "idp-addr", identitywebtest.LocalOptions{HTTPS: *idpHTTPS,
			Options: identitywebtest.Options{DevelopmentPasswordGrant: true}})
		if err != nil {
			return err
		}
		defer idp.Close()
		// The printed user-token command uses the password grant, which
		// needs consent given beforehand, as a sign-in would have.
		idp.GrantConsent(identitywebtest.AliceUsername, identitywebtest.WebAppClientID, identitywebtest.WebAPIIdentifierURI+"/access_as_user")
		// This API calls Graph on behalf of its callers: that takes its
		// client credential.
		cfg = identityweb.Config{Instance: idp.URL + "/", TenantID: identitywebtest.DefaultTenantID,
			ClientID: identitywebtest.WebAPIClientID, ClientSecret: identitywebtest.WebAPISecret}
		opts.HTTPClient = idp.Client()
		if graphURL == "" {
			// A stand-in for Microsoft Graph: /graph/me accepts Graph tokens.
			graph, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: identitywebtest.DefaultTenantID,
				ClientID: identitywebtest.GraphClientID, Audiences: []string{identitywebtest.GraphResource}},
				identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Logger: logger}})
			if err != nil {
				return err
			}
			defer graph.Close()
			mux.Handle("GET /graph/me", graph.RequireBearer(identityweb.RequireScopes("User.Read"))(http.HandlerFunc(graphMe)))
			graphURL = base + "/graph"
		}
	}
	api, err := identityweb.New(cfg, opts)
	if err != nil {
		return err
	}
	defer api.Close()
	var graphClient *http.Client
	if graphURL != "" {
		if graphClient, err = api.DownstreamClient(identityweb.DownstreamAPI{BaseURL: graphURL, Scopes: []string{"User.Read"}, As: identityweb.OnBehalfOf}); err != nil {
			return err
		}
	}
	mux.Handle("GET /todos", api.RequireBearer(identityweb.RequireScopesOrRoles([]string{"access_as_user"}, []string{"Todo.Read.All"}))(http.HandlerFunc(todos)))
	mux.Handle("GET /profile", api.RequireBearer(identityweb.RequireScopes("access_as_user"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if graphClient == nil {
			http.Error(w, "No downstream profile API is configured: "+graphHelp+".", http.StatusNotImplemented)
			return
		}
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, graphURL+"/me", nil)
		resp, err := graphClient.Do(req)
		if err != nil {
			api.Challenge(w, r, err) // a claims challenge goes back to the caller
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, io.LimitReader(resp.Body, 1<<20))
	})))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	printUsage(out, base, cfg, idp, graphClient != nil)
	if ready != nil {
		ready <- started{url: base, idp: idp}
	}
	return devserver.Wait(ctx, srv, errc)
}

// tokenFrom is the part of a shell command that reads access_token out of
// the token endpoint's JSON answer without jq.
const tokenFrom = `sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'`

// printUsage says how to call the API: with the development provider,
// commands ready to paste into a shell.
func printUsage(out io.Writer, base string, cfg identityweb.Config, idp *identitywebtest.Local, profile bool) {
	p := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	p("Web API on %s", base)
	p("  GET /todos    users with scope access_as_user, apps with role Todo.Read.All")
	if profile {
		p("  GET /profile  users: calls Graph's /me on their behalf (OBO)")
	} else {
		p("  GET /profile  answers 501 until you %s", graphHelp)
	}
	if idp == nil {
		p("Call it with a token for api://%s: curl -H \"Authorization: Bearer $TOKEN\" %s/todos", cfg.ClientID, base)
		return
	}
	p("Development identity provider on %s; /profile calls a stand-in for Graph at %s/graph (GRAPH_URL calls another)", idp.URL, base)
	tokenURL := idp.TokenEndpoint(identitywebtest.DefaultTenantID)
	if idp.CertificatePEM != nil { // -idp-https: curl must trust the certificate
		pemPath := filepath.Join(os.TempDir(), "identityweb-webapi-idp.pem")
		if err := os.WriteFile(pemPath, idp.CertificatePEM, 0o644); err == nil {
			tokenURL = "--cacert " + pemPath + " " + tokenURL
		}
	}
	call := func(token, route string) string {
		return fmt.Sprintf(`curl -sS -w 'HTTP %%{http_code}\n' -H "Authorization: Bearer $%s" %s%s`, token, base, route)
	}
	p("")
	p("Try it: paste these lines into a shell (sh, bash, zsh).")
	p("")
	p("# An app token (client credentials, the daemon's registration, role Todo.Read.All), then /todos with it:")
	p(`APP_TOKEN=$(curl -sS %s -d grant_type=client_credentials -d client_id=%s -d client_secret=%s -d scope=%s | %s)`,
		tokenURL, identitywebtest.DaemonClientID, identitywebtest.DaemonSecret, identitywebtest.WebAPIIdentifierURI+"/.default", tokenFrom)
	p("%s", call("APP_TOKEN", "/todos"))
	p("")
	p("# A user token for Alice (the web app's registration; the password grant is a development-only shortcut for")
	p("# a sign-in without a browser), then /todos and /profile with it:")
	p(`USER_TOKEN=$(curl -sS %s -d grant_type=password -d client_id=%s -d client_secret=%s -d username=%s -d password= -d scope=%s | %s)`,
		tokenURL, identitywebtest.WebAppClientID, identitywebtest.WebAppSecret, identitywebtest.AliceUsername,
		identitywebtest.WebAPIIdentifierURI+"/access_as_user", tokenFrom)
	p("%s", call("USER_TOKEN", "/todos"))
	p("%s", call("USER_TOKEN", "/profile"))
	p("")
	p("Press Ctrl+C to stop.")
}

func todos(w http.ResponseWriter, r *http.Request) {
	c, _ := identityweb.ClaimsFromContext(r.Context())
	caller := c.Name
	if c.IsApp() {
		caller = "app " + c.AppID
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"caller": caller, "todos": []string{"Read the README", "Run the samples"}})
}

func graphMe(w http.ResponseWriter, r *http.Request) {
	c, _ := identityweb.ClaimsFromContext(r.Context())
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"displayName": c.Name, "userPrincipalName": c.Username, "id": c.ObjectID})
}
