package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/cachestore/redisstore"
	"github.com/identityweb/go-identityweb/identityweb"
	"github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/samples/internal/devserver"
)

const (
	readScope  = identitywebtest.WebAPIIdentifierURI + "/access_as_user"
	writeScope = identitywebtest.WebAPIIdentifierURI + "/Todo.ReadWrite"
)

type siteOptions struct {
	appURL     string
	idpAddr    string
	autoSignIn string
	logger     *slog.Logger
}

// site is the web app and, in development, the Todo API it calls.
type site struct {
	app     *identityweb.App
	api     *identityweb.App
	todo    *http.Client
	todoW   *http.Client
	handler http.Handler
	devIdP  string
	closers []func()
	todos   *todoStore
	readS   string
	writeS  string
}

func newSite(ctx context.Context, o siteOptions) (*site, error) {
	s := &site{todos: newTodoStore()}
	cfg, err := identityweb.LoadConfig(optionalFile("appsettings.json"), "AzureAd")
	if err != nil {
		return nil, err
	}
	opts := identityweb.AppOptions{Options: identityweb.Options{Logger: o.logger}, InsecureAllowHTTPCookies: true}
	apiCfg := identityweb.Config{}
	s.readS, s.writeS = readScope, writeScope
	if cfg.ClientID == "" { // no Entra settings: the embedded development provider
		idp, err := devserver.Start(o.idpAddr, o.autoSignIn)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, func() { idp.Close() })
		s.devIdP = idp.URL
		cfg = identityweb.Config{Instance: idp.URL + "/", TenantID: identitywebtest.DefaultTenantID,
			ClientID: identitywebtest.WebAppClientID, ClientSecret: identitywebtest.WebAppSecret, Scopes: []string{readScope}}
		apiCfg = identityweb.Config{Instance: idp.URL + "/", TenantID: identitywebtest.DefaultTenantID,
			ClientID: identitywebtest.WebAPIClientID, ClientSecret: identitywebtest.WebAPISecret}
		opts.HTTPClient = idp.Client
	} else if len(cfg.Scopes) > 0 {
		s.readS, s.writeS = cfg.Scopes[0], cfg.Scopes[len(cfg.Scopes)-1]
	}
	if url := os.Getenv("REDIS_URL"); url != "" {
		cache, closeCache, err := redisCache(url, o.logger)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, closeCache)
		opts.Cache = cache
	}
	if s.app, err = identityweb.New(cfg, opts); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	apiURL := o.appURL + "/api"
	if apiCfg.ClientID != "" {
		apiOpts := identityweb.AppOptions{Options: identityweb.Options{Logger: o.logger, HTTPClient: opts.HTTPClient}}
		if s.api, err = identityweb.New(apiCfg, apiOpts); err != nil {
			return nil, err
		}
		mux.Handle("/api/todos", s.api.RequireBearer(identityweb.RequireScopes("access_as_user", "Todo.ReadWrite"))(http.HandlerFunc(s.todoAPI)))
	} else if u := os.Getenv("TODO_API_URL"); u != "" {
		apiURL = u
	}
	if s.todo, err = s.app.DownstreamClient(identityweb.DownstreamAPI{BaseURL: apiURL, Scopes: []string{s.readS}}); err != nil {
		return nil, err
	}
	if s.todoW, err = s.app.DownstreamClient(identityweb.DownstreamAPI{BaseURL: apiURL, Scopes: []string{s.writeS}}); err != nil {
		return nil, err
	}
	s.routes(mux, apiURL)
	s.handler = s.app.Handler(securityHeaders(mux))
	return s, nil
}

func (s *site) close() {
	for _, c := range s.closers {
		c()
	}
	s.app.Close()
}

func optionalFile(p string) string {
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// redisCache builds the production cache: a per-instance L1 over an
// encrypted Redis L2.
func redisCache(url string, logger *slog.Logger) (cachestore.Store, func(), error) {
	rs, err := redisstore.NewFromURL(url, redisstore.Options{Prefix: "identityweb-sample:"})
	if err != nil {
		return nil, nil, err
	}
	var ring *cachestore.KeyRing
	if keys := os.Getenv("IDWEB_CACHE_KEYS"); keys != "" {
		if ring, err = cachestore.ParseKeyRing(keys); err != nil {
			return nil, nil, err
		}
	} else {
		logger.Warn("IDWEB_CACHE_KEYS is not set: using a random key, so cached tokens do not survive a restart")
		ring, _ = cachestore.NewKeyRing(cachestore.NewKey())
	}
	tiered := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{}),
		cachestore.NewEncrypted(rs, ring, cachestore.EncryptedOptions{Logger: logger}), cachestore.TieredOptions{Logger: logger})
	return tiered, func() { tiered.Close(); rs.Close() }, nil
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'")
		next.ServeHTTP(w, r)
	})
}
