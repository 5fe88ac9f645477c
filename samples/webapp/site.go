package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/cachestore/redisstore"
	"github.com/identityweb/go-identityweb/identityweb"
	"github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

const (
	readScope  = identitywebtest.WebAPIIdentifierURI + "/access_as_user"
	writeScope = identitywebtest.WebAPIIdentifierURI + "/Todo.ReadWrite"
)

type siteOptions struct {
	appURL     string
	idpAddr    string
	idpHTTPS   bool
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
	idp     *identitywebtest.Local // the development provider; nil with Entra settings
	closers []func()
	todos   *todoStore
	readS   string
	writeS  string
}

func newSite(o siteOptions) (_ *site, err error) {
	s := &site{todos: newTodoStore()}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	cfg, err := identityweb.LoadConfig(optionalFile("appsettings.json"), "AzureAd")
	if err != nil {
		return nil, err
	}
	opts := identityweb.AppOptions{
		Options:                  identityweb.Options{Logger: o.logger},
		InsecureAllowHTTPCookies: true, // http://localhost; use HTTPS and drop this in production
		SignedOutRedirect:        "/?signedout=1",
		ErrorPage:                s.errorPage,
	}
	var apiCfg identityweb.Config
	s.readS, s.writeS = readScope, writeScope
	if cfg.ClientID == "" { // no Entra settings: the development identity provider
		s.idp, err = identitywebtest.StartLocal(o.idpAddr, identitywebtest.LocalOptions{
			Options: identitywebtest.Options{AutoSignIn: o.autoSignIn}, HTTPS: o.idpHTTPS})
		if errors.Is(err, identitywebtest.ErrAddressInUse) {
			return nil, fmt.Errorf("the development identity provider cannot start: %s is in use. Stop what uses it (another copy of the sample?), or choose another address with -idp-addr localhost:PORT", o.idpAddr)
		}
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, func() { s.idp.Close() })
		cfg = identityweb.Config{Instance: s.idp.URL + "/", TenantID: identitywebtest.DefaultTenantID,
			ClientID: identitywebtest.WebAppClientID, ClientSecret: identitywebtest.WebAppSecret, Scopes: []string{readScope}}
		// The Todo API only validates tokens: it needs no credential.
		apiCfg = identityweb.Config{Instance: s.idp.URL + "/", TenantID: identitywebtest.DefaultTenantID,
			ClientID: identitywebtest.WebAPIClientID}
		opts.HTTPClient = s.idp.Client()
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
	s.closers = append(s.closers, func() { s.app.Close() })
	mux := http.NewServeMux()
	apiURL := o.appURL + "/api"
	if apiCfg.ClientID != "" {
		apiOpts := identityweb.AppOptions{Options: identityweb.Options{Logger: o.logger, HTTPClient: opts.HTTPClient}}
		if s.api, err = identityweb.New(apiCfg, apiOpts); err != nil {
			return nil, err
		}
		s.closers = append(s.closers, func() { s.api.Close() })
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
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
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
