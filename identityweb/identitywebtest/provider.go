package identitywebtest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Options configure a Provider. The zero value serves DefaultConfig with
// Entra's default lifetimes.
type Options struct {
	// Config is what to serve. Default: DefaultConfig().
	Config *Config
	// Now is the provider's clock. Default: time.Now. Tests pass a fake clock
	// to move token lifetimes without sleeping.
	Now func() time.Time
	// AccessTokenLifetime is the lifetime of access tokens. Default: a random
	// duration between 60 and 90 minutes, as Entra does. From 2 hours up,
	// responses carry refresh_in (half the lifetime), as Entra's long-lived
	// tokens do.
	AccessTokenLifetime time.Duration
	// IDTokenLifetime. Default: 1 hour.
	IDTokenLifetime time.Duration
	// RefreshTokenLifetime. Default: 90 days.
	RefreshTokenLifetime time.Duration
	// CodeLifetime is how long an authorization code may be redeemed.
	// Default: 10 minutes.
	CodeLifetime time.Duration
	// ClockSkew is the leeway allowed on assertion times. Default: 5 minutes.
	ClockSkew time.Duration
	// RevokeRefreshTokenFamilyOnReuse: presenting a refresh token that was
	// already redeemed also revokes every token descended from the same
	// sign-in (reuse detection). Default: off — the reused token alone fails.
	RevokeRefreshTokenFamilyOnReuse bool
	// RejectAssertionReplay refuses a client assertion whose jti was seen
	// before. Default: off, as in Entra, which lets clients reuse an assertion
	// for its lifetime (and this library's engine does).
	RejectAssertionReplay bool
	// RequirePKCE refuses authorization requests without a code_challenge.
	RequirePKCE bool
	// AutoSignIn, when set to a username, signs that user in at the authorize
	// endpoint without showing a page, consenting to what is asked (unless
	// prompt=none), as a person clicking through would. For tests.
	AutoSignIn string
	// DevelopmentPasswordGrant enables grant_type=password (resource owner
	// password credentials) at the token endpoint, so that a user's token
	// can be had from a shell (curl) without a browser. Development only:
	// never a production pattern, and off by default, as the grant is
	// refused by Entra for most accounts. Users without a password are
	// accepted with an empty one; consent must have been given (GrantConsent
	// or User.Consented).
	DevelopmentPasswordGrant bool
	// PublicURL is the base URL the provider is reached at, when it differs
	// from what requests say (a proxy). Default: from each request.
	PublicURL string
	// Logger receives one line per request (never a token or secret).
	// Default: discard.
	Logger *slog.Logger
	// HTTPClient fetches the keys of federated credential issuers.
	// Default: http.DefaultClient.
	HTTPClient *http.Client
}

// Provider is the development OpenID Provider, an http.Handler. Create it with
// NewProvider (standalone) or NewServer (tests). All methods are safe for
// concurrent use.
type Provider struct {
	now    func() time.Time
	opts   Options
	logger *slog.Logger

	mu        sync.Mutex
	tenants   map[string]*tenantState // by lower-case id and domain
	clients   map[string]*clientState // by client id
	resources map[string]*clientState // by identifier URI and client id
	users     map[string]*userState   // by lower-case username
	usersByID map[string]*userState
	consents  map[string]map[string]bool // user oid|client id → full scope
	codes     map[string]*authCode
	refresh   map[string]*refreshToken
	families  map[string]*family
	lastSweep time.Time // of sweepLocked
	txs       map[string]*authTx
	sessions  map[string]*idpSession
	jtis      map[string]time.Time
	keys      []*signingKey // keys[0] signs
	autoUser  string
	atLife    time.Duration
	faults    faultState
	log       []RequestRecord
}

type tenantState struct {
	Tenant
}

type userState struct {
	User
	tenant *tenantState
}

type clientState struct {
	Client
	tenant     *tenantState // nil for the built-in Graph
	identifier string
	objectID   string
	certs      []*clientCert
	perms      map[*clientState]int // resource → index in Permissions
}

type clientCert struct {
	cert    *x509.Certificate
	sha1    [20]byte
	sha256  [32]byte
	sha1Hex string
	revoked bool
}

// NewProvider builds a provider from opts.
func NewProvider(opts Options) (*Provider, error) {
	if opts.Config == nil {
		opts.Config = DefaultConfig()
	}
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.IDTokenLifetime <= 0 {
		opts.IDTokenLifetime = time.Hour
	}
	if opts.RefreshTokenLifetime <= 0 {
		opts.RefreshTokenLifetime = 90 * 24 * time.Hour
	}
	if opts.CodeLifetime <= 0 {
		opts.CodeLifetime = 10 * time.Minute
	}
	if opts.ClockSkew <= 0 {
		opts.ClockSkew = 5 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	p := &Provider{
		now: opts.Now, opts: opts, logger: opts.Logger,
		tenants: map[string]*tenantState{}, clients: map[string]*clientState{},
		resources: map[string]*clientState{}, users: map[string]*userState{},
		usersByID: map[string]*userState{}, consents: map[string]map[string]bool{},
		codes: map[string]*authCode{}, refresh: map[string]*refreshToken{},
		families: map[string]*family{}, txs: map[string]*authTx{},
		sessions: map[string]*idpSession{}, jtis: map[string]time.Time{},
		autoUser: opts.AutoSignIn, atLife: opts.AccessTokenLifetime,
	}
	k, err := initialSigningKey()
	if err != nil {
		return nil, err
	}
	p.keys = []*signingKey{k}
	if err := p.load(opts.Config); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Provider) load(cfg *Config) error {
	graph := &clientState{
		Client: Client{ClientID: GraphClientID, Name: "Microsoft Graph (development stand-in)",
			Scopes: []string{"User.Read", "Mail.Read"}, AppRoles: []string{"User.Read.All"}},
		identifier: GraphResource, objectID: derivedGUID("sp", GraphClientID),
	}
	p.resources[GraphResource] = graph
	p.resources[GraphClientID] = graph
	for i := range cfg.Tenants {
		t := &tenantState{Tenant: cfg.Tenants[i]}
		p.tenants[strings.ToLower(t.ID)] = t
		if t.Domain != "" {
			p.tenants[strings.ToLower(t.Domain)] = t
		}
		for _, u := range t.Users {
			us := &userState{User: u, tenant: t}
			p.users[strings.ToLower(u.Username)] = us
			p.usersByID[u.ObjectID] = us
			for clientID, scopes := range u.Consented {
				for _, s := range scopes {
					p.consentSet(u.ObjectID, clientID)[s] = true
				}
			}
		}
		for _, c := range t.Clients {
			cs := &clientState{Client: c, tenant: t, identifier: c.IdentifierURI, objectID: c.ObjectID}
			if cs.objectID == "" {
				cs.objectID = derivedGUID("sp", c.ClientID)
			}
			if cs.identifier == "" && (len(c.Scopes) > 0 || len(c.AppRoles) > 0) {
				cs.identifier = "api://" + c.ClientID
			}
			for _, pemText := range c.Certificates {
				cert, err := parseCertificatePEM(pemText)
				if err != nil {
					return err
				}
				cs.certs = append(cs.certs, newClientCert(cert))
			}
			p.clients[c.ClientID] = cs
			p.resources[c.ClientID] = cs
			if cs.identifier != "" {
				p.resources[cs.identifier] = cs
			}
		}
	}
	// Index each client's permissions by resource: configurations with
	// thousands of APIs (the benchmarks') stay O(1) per token request.
	for _, c := range p.clients {
		c.perms = make(map[*clientState]int, len(c.Permissions))
		for i := len(c.Permissions) - 1; i >= 0; i-- { // the first grant wins
			if r := p.resources[c.Permissions[i].Resource]; r != nil {
				c.perms[r] = i
			}
		}
	}
	return nil
}

func newClientCert(cert *x509.Certificate) *clientCert {
	s1 := sha1Sum(cert.Raw)
	return &clientCert{cert: cert, sha1: s1, sha256: sha256.Sum256(cert.Raw), sha1Hex: strings.ToUpper(hex.EncodeToString(s1[:]))}
}

func (p *Provider) consentSet(oid, clientID string) map[string]bool {
	k := oid + "|" + clientID
	m := p.consents[k]
	if m == nil {
		m = map[string]bool{}
		p.consents[k] = m
	}
	return m
}

// derivedGUID makes a stable GUID-shaped id from its parts.
func derivedGUID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "|")))
	h[6] = (h[6] & 0x0f) | 0x40
	h[8] = (h[8] & 0x3f) | 0x80
	x := hex.EncodeToString(h[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// randomID returns a random GUID, or a longer opaque token when n > 16 bytes.
func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	x := hex.EncodeToString(b[:])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

func randomToken(prefix string) string {
	var b [32]byte
	rand.Read(b[:])
	return prefix + b64url(b[:])
}

// requestContext carries what every handler needs about one request.
type requestContext struct {
	now           time.Time
	base          string // scheme://host of the provider
	tenantSeg     string // the tenant as written in the path
	tenant        *tenantState
	traceID       string
	correlationID string
	record        *RequestRecord
}

// issuer returns the v2.0 issuer for a tenant id.
func (rc *requestContext) issuer(tenantID string) string { return rc.base + "/" + tenantID + "/v2.0" }

func (rc *requestContext) tokenEndpoint() string {
	return rc.base + "/" + rc.tenantSeg + "/oauth2/v2.0/token"
}

func (p *Provider) baseURL(r *http.Request) string {
	if p.opts.PublicURL != "" {
		return p.opts.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// ServeHTTP routes a request to the endpoint it names.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc := &requestContext{now: p.now(), base: p.baseURL(r), traceID: randomID(), correlationID: correlationID(r)}
	rec := &RequestRecord{Time: rc.now, Method: r.Method, Path: r.URL.Path, CorrelationID: rc.correlationID}
	rc.record = rec
	// The record is appended when the status is written, before any byte
	// reaches the client, so that a test reading Requests() right after its
	// call returns always sees it.
	sw := &statusWriter{ResponseWriter: w, onStatus: func(code int) {
		rec.Status = code
		p.record(rec)
	}}
	defer sw.WriteHeader(http.StatusOK) // a handler that wrote nothing answered 200
	if p.outage() {
		rec.Endpoint = "outage"
		sw.onStatus(-1)
		sw.done = true
		dropConnection(w)
		return
	}
	p.route(sw, r, rc)
}

func correlationID(r *http.Request) string {
	if id := r.Header.Get("client-request-id"); isGUID(id) {
		return id
	}
	return randomID()
}

func (p *Provider) route(w http.ResponseWriter, r *http.Request, rc *requestContext) {
	path := strings.Trim(r.URL.Path, "/")
	if path == "" {
		rc.record.Endpoint = "index"
		p.serveIndex(w, r, rc)
		return
	}
	seg, rest, _ := strings.Cut(path, "/")
	rc.tenantSeg = seg
	rc.record.Tenant = seg
	endpoint := map[string]string{
		"v2.0/.well-known/openid-configuration": "discovery",
		"discovery/v2.0/keys":                   "keys",
		"discovery/keys":                        "keys",
		"oauth2/v2.0/authorize":                 "authorize",
		"oauth2/v2.0/token":                     "token",
		"oauth2/v2.0/logout":                    "logout",
		"login":                                 "login",
		"consent":                               "consent",
	}[rest]
	rc.record.Endpoint = endpoint
	if endpoint == "" {
		http.NotFound(w, r)
		return
	}
	if err := p.resolveTenant(rc); err != nil {
		if endpoint == "token" {
			p.writeOAuthError(w, rc, err)
		} else {
			p.errorPage(w, rc, http.StatusBadRequest, err)
		}
		return
	}
	switch endpoint {
	case "discovery":
		p.serveDiscovery(w, r, rc)
	case "keys":
		p.serveKeys(w, r, rc)
	case "authorize":
		p.serveAuthorize(w, r, rc)
	case "login":
		p.serveLogin(w, r, rc)
	case "consent":
		p.serveConsent(w, r, rc)
	case "token":
		p.serveToken(w, r, rc)
	case "logout":
		p.serveLogout(w, r, rc)
	}
}

func (p *Provider) resolveTenant(rc *requestContext) *oauthError {
	seg := strings.ToLower(rc.tenantSeg)
	if seg == "common" || seg == "organizations" {
		return nil
	}
	p.mu.Lock()
	t := p.tenants[seg]
	p.mu.Unlock()
	if t == nil {
		return newErr(http.StatusBadRequest, "invalid_tenant", CodeTenantNotFound, "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", truncate(rc.tenantSeg, 64))
	}
	rc.tenant = t
	return nil
}

func (p *Provider) writeOAuthError(w http.ResponseWriter, rc *requestContext, e *oauthError) {
	rc.record.Error, rc.record.ErrorCode = e.code, e.aadsts
	writeJSON(w, e.status, e.body(rc))
}

// statusWriter remembers the status written, for the request log.
type statusWriter struct {
	http.ResponseWriter
	onStatus func(int)
	done     bool
}

func (s *statusWriter) WriteHeader(code int) {
	if s.done {
		return
	}
	s.done = true
	s.onStatus(code)
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// SetAutoSignIn changes Options.AutoSignIn: later authorization requests
// sign username in without a page ("" shows the page again).
func (p *Provider) SetAutoSignIn(username string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.autoUser = username
}
