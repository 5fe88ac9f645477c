// Command webapi is a protected web API that calls another API on behalf of
// its caller. With no configuration it starts the development identity
// provider and prints how to call it.
//
//	go run ./samples/webapi
//
// Routes:
//
//	GET /todos     users with scope access_as_user, or apps with role Todo.Read.All
//	GET /profile   users only: gets a Graph token on behalf of the caller (OBO)
//	               and calls the (stand-in) Graph /me with it
//
// With Entra settings (AzureAd__Instance, AzureAd__TenantId, AzureAd__ClientId
// and a credential) it protects itself with that registration; set
// GRAPH_URL to call Microsoft Graph.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/identityweb/go-identityweb/identityweb"
	"github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/samples/internal/devserver"
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
	idp *devserver.IdP // nil with Entra settings
}

func run(ctx context.Context, args []string, out io.Writer, ready chan<- started) error {
	fs := flag.NewFlagSet("webapi", flag.ContinueOnError)
	fs.SetOutput(out)
	addr := fs.String("addr", "localhost:5002", "address of the API")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg, err := identityweb.LoadConfig("", "AzureAd")
	if err != nil {
		return err
	}
	opts := identityweb.AppOptions{Options: identityweb.Options{Logger: logger}}
	var idp *devserver.IdP
	graphURL := os.Getenv("GRAPH_URL")
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	if cfg.ClientID == "" {
		if idp, err = devserver.Start("127.0.0.1:0", ""); err != nil {
			ln.Close()
			return err
		}
		defer idp.Close()
		cfg = identityweb.Config{Instance: idp.URL + "/", TenantID: identitywebtest.DefaultTenantID,
			ClientID: identitywebtest.WebAPIClientID, ClientSecret: identitywebtest.WebAPISecret}
		opts.HTTPClient = idp.Client
		// A stand-in for Microsoft Graph: /graph/me accepts Graph tokens.
		graph, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: identitywebtest.DefaultTenantID,
			ClientID: identitywebtest.GraphClientID, ClientSecret: "unused", Audiences: []string{identitywebtest.GraphResource}},
			identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client, Logger: logger}})
		if err != nil {
			ln.Close()
			return err
		}
		mux.Handle("GET /graph/me", graph.RequireBearer(identityweb.RequireScopes("User.Read"))(http.HandlerFunc(graphMe)))
		graphURL = base + "/graph"
	}
	api, err := identityweb.New(cfg, opts)
	if err != nil {
		ln.Close()
		return err
	}
	defer api.Close()
	var graphClient *http.Client
	if graphURL != "" {
		if graphClient, err = api.DownstreamClient(identityweb.DownstreamAPI{BaseURL: graphURL, Scopes: []string{"User.Read"}, As: identityweb.OnBehalfOf}); err != nil {
			ln.Close()
			return err
		}
	}
	mux.Handle("GET /todos", api.RequireBearer(identityweb.RequireScopesOrRoles([]string{"access_as_user"}, []string{"Todo.Read.All"}))(http.HandlerFunc(todos)))
	mux.Handle("GET /profile", api.RequireBearer(identityweb.RequireScopes("access_as_user"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if graphClient == nil {
			http.Error(w, "No downstream profile API is configured: set GRAPH_URL.", http.StatusNotImplemented)
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
	fmt.Fprintf(out, "Web API on %s: GET /todos, GET /profile (Authorization: Bearer <token for api://%s>)\n", base, cfg.ClientID)
	if ready != nil {
		ready <- started{url: base, idp: idp}
	}
	return devserver.Wait(ctx, srv, errc)
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
