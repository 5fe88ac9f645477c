package identitywebtest

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// Config is what the provider serves: tenants with their users and app
// registrations. It is read from JSON (see LoadConfig) with the field names
// in the json tags. The zero Config is not valid; DefaultConfig is.
type Config struct {
	// Tenants are the directories served.
	Tenants []Tenant `json:"tenants"`
}

// Tenant is a directory: users and the applications registered in it.
type Tenant struct {
	// ID is the tenant id, a GUID; it appears as "tid" and in the issuer.
	ID string `json:"id"`
	// Domain is a verified domain name, usable in place of the id in URLs.
	Domain string `json:"domain"`
	// Name is shown on the sign-in page.
	Name string `json:"name"`
	// Users can sign in to the tenant's apps.
	Users []User `json:"users"`
	// Clients are the app registrations of the tenant.
	Clients []Client `json:"clients"`
}

// User is a person who can sign in.
type User struct {
	// ObjectID is the user's "oid", a GUID.
	ObjectID string `json:"objectId"`
	// Username is the sign-in name and "preferred_username".
	Username string `json:"username"`
	// Name is the display name ("name" claim).
	Name string `json:"name"`
	// Password, when set, must be typed on the sign-in page; when empty the
	// user is picked with one click.
	Password string `json:"password,omitempty"`
	// Consented lists delegated scopes the user has already consented to, by
	// client id, as full scope strings ("api://…/access_as_user").
	Consented map[string][]string `json:"consented,omitempty"`
}

// Client is an app registration.
type Client struct {
	// ClientID is the application (client) id, a GUID.
	ClientID string `json:"clientId"`
	// Name is shown on the sign-in and consent pages.
	Name string `json:"name"`
	// ObjectID is the service principal's object id, the "oid" of its app
	// tokens. Default: derived from the client id.
	ObjectID string `json:"objectId,omitempty"`
	// PublicClient apps authenticate with no credential (native apps).
	PublicClient bool `json:"publicClient,omitempty"`
	// MultiTenant apps sign in users of any tenant served.
	MultiTenant bool `json:"multiTenant,omitempty"`
	// Secrets are client secrets; an expired one is refused with AADSTS7000222.
	Secrets []Secret `json:"secrets,omitempty"`
	// Certificates are PEM X.509 certificates whose keys may sign
	// private_key_jwt client assertions.
	Certificates []string `json:"certificates,omitempty"`
	// RedirectURIs are the registered reply URLs, matched exactly.
	RedirectURIs []string `json:"redirectUris,omitempty"`
	// AllowLoopbackRedirects also accepts a registered reply URL on
	// localhost/127.0.0.1/[::1] with any port (for samples on random ports).
	AllowLoopbackRedirects bool `json:"allowLoopbackRedirects,omitempty"`
	// PostLogoutRedirectURIs are where /logout may send the browser back to.
	// Default: the RedirectURIs' origins may be used with any path.
	PostLogoutRedirectURIs []string `json:"postLogoutRedirectUris,omitempty"`

	// IdentifierURI is the application ID URI of an API ("api://…"). Default
	// for an app that exposes scopes or roles: "api://" + ClientID.
	IdentifierURI string `json:"identifierUri,omitempty"`
	// Scopes are the delegated permissions the API exposes.
	Scopes []string `json:"scopes,omitempty"`
	// AppRoles are the application permissions the API exposes.
	AppRoles []string `json:"appRoles,omitempty"`

	// Permissions are the API permissions this app has been granted.
	Permissions []Permission `json:"permissions,omitempty"`
	// FederatedCredentials trust assertions issued by another OpenID
	// Provider (managed identity, Kubernetes workload identity) as client
	// assertions for this app.
	FederatedCredentials []FederatedCredential `json:"federatedCredentials,omitempty"`
}

// FederatedCredential trusts tokens of Issuer for Subject as client
// assertions, as Entra's federated identity credentials do.
type FederatedCredential struct {
	// Issuer is the issuer ("iss") of the trusted tokens; their keys are
	// found through its OpenID discovery document.
	Issuer string `json:"issuer"`
	// Subject is the "sub" the trusted tokens must carry.
	Subject string `json:"subject"`
	// Audience the token must carry. Default: "api://AzureADTokenExchange".
	Audience string `json:"audience,omitempty"`
}

// Secret is a client secret with an optional expiry.
type Secret struct {
	// Value is the secret.
	Value string `json:"value"`
	// ExpiresAt, when set, is when the secret stops working.
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

// Permission grants an app access to an API (the resource).
type Permission struct {
	// Resource is the API's identifier URI or client id.
	Resource string `json:"resource"`
	// Scopes are delegated permissions; with AdminConsented every user counts
	// as having consented to them.
	Scopes []string `json:"scopes,omitempty"`
	// AdminConsented grants Scopes to every user: no consent page.
	AdminConsented bool `json:"adminConsented,omitempty"`
	// Roles are application permissions (granted: they appear in app tokens).
	Roles []string `json:"roles,omitempty"`
}

// The built-in development configuration. Its ids and secrets are public and
// fixed so that samples and documentation can name them.
const (
	DefaultTenantID     = "c0ffee00-0000-4000-8000-000000000001"
	DefaultTenantDomain = "contoso.onmicrosoft.com"

	WebAppClientID = "11111111-0000-4000-8000-000000000001"
	WebAppSecret   = "webapp-dev-secret"
	WebAPIClientID = "22222222-0000-4000-8000-000000000002"
	WebAPISecret   = "webapi-dev-secret"
	DaemonClientID = "33333333-0000-4000-8000-000000000003"
	DaemonSecret   = "daemon-dev-secret"

	// WebAPIIdentifierURI is the web API's application ID URI; its scopes are
	// "access_as_user" and "Todo.ReadWrite", its app role "Todo.Read.All".
	WebAPIIdentifierURI = "api://" + WebAPIClientID

	AliceObjectID = "a11ce000-0000-4000-8000-00000000000a"
	AliceUsername = "alice@" + DefaultTenantDomain
	BobObjectID   = "b0b00000-0000-4000-8000-00000000000b"
	BobUsername   = "bob@" + DefaultTenantDomain

	// GraphClientID and GraphResource identify the built-in stand-in for
	// Microsoft Graph. Bare scope names ("User.Read") belong to it, as in Entra.
	GraphClientID = "00000003-0000-0000-c000-000000000000"
	GraphResource = "https://graph.microsoft.com"
)

// DefaultConfig returns the built-in development configuration:
//
//   - tenant "Contoso (development)" (DefaultTenantID, contoso.onmicrosoft.com);
//   - a web app (WebAppClientID / WebAppSecret) with reply URLs
//     http(s)://localhost:{any port}/signin-oidc, granted Graph User.Read by
//     an admin and allowed to ask users for the web API's scopes;
//   - a web API (WebAPIClientID / WebAPISecret, WebAPIIdentifierURI) exposing
//     the scopes access_as_user and Todo.ReadWrite and the app role
//     Todo.Read.All, granted Graph User.Read (admin consented) for OBO;
//   - a daemon (DaemonClientID / DaemonSecret) granted Todo.Read.All;
//   - users alice@ and bob@contoso.onmicrosoft.com, picked with one click.
//
// Every call returns a fresh copy.
func DefaultConfig() *Config {
	return &Config{Tenants: []Tenant{{
		ID:     DefaultTenantID,
		Domain: DefaultTenantDomain,
		Name:   "Contoso (development)",
		Users: []User{
			{ObjectID: AliceObjectID, Username: AliceUsername, Name: "Alice Example"},
			{ObjectID: BobObjectID, Username: BobUsername, Name: "Bob Example"},
		},
		Clients: []Client{
			{
				ClientID: WebAppClientID, Name: "Web app (development)",
				Secrets: []Secret{{Value: WebAppSecret}},
				RedirectURIs: []string{
					"http://localhost:5000/signin-oidc", "https://localhost:5001/signin-oidc",
					"http://127.0.0.1:5000/signin-oidc",
				},
				AllowLoopbackRedirects: true,
				Permissions: []Permission{
					{Resource: GraphResource, Scopes: []string{"User.Read"}, AdminConsented: true},
					{Resource: WebAPIIdentifierURI, Scopes: []string{"access_as_user", "Todo.ReadWrite"}},
				},
			},
			{
				ClientID: WebAPIClientID, Name: "Todo web API (development)",
				Secrets:       []Secret{{Value: WebAPISecret}},
				IdentifierURI: WebAPIIdentifierURI,
				Scopes:        []string{"access_as_user", "Todo.ReadWrite"},
				AppRoles:      []string{"Todo.Read.All"},
				Permissions: []Permission{
					{Resource: GraphResource, Scopes: []string{"User.Read"}, AdminConsented: true},
				},
			},
			{
				ClientID: DaemonClientID, Name: "Daemon (development)",
				Secrets: []Secret{{Value: DaemonSecret}},
				Permissions: []Permission{
					{Resource: WebAPIIdentifierURI, Roles: []string{"Todo.Read.All"}},
				},
			},
		},
	}}}
}

// LoadConfig reads a JSON Config from path and validates it.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identitywebtest: reading config: %w", err)
	}
	return ParseConfig(b)
}

// ParseConfig decodes and validates a JSON Config. Unknown fields are errors,
// so a misspelt key does not silently do nothing.
func ParseConfig(b []byte) (*Config, error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("identitywebtest: parsing config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate reports the first problem that would stop the provider serving c.
func (c *Config) Validate() error {
	if len(c.Tenants) == 0 {
		return fmt.Errorf("identitywebtest: config: at least one tenant is required")
	}
	tenants, clients, users := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, t := range c.Tenants {
		where := fmt.Sprintf("identitywebtest: config: tenants[%d]", i)
		if !isGUID(t.ID) {
			return fmt.Errorf("%s.id: %q is not a GUID", where, t.ID)
		}
		for _, k := range []string{strings.ToLower(t.ID), strings.ToLower(t.Domain)} {
			if k == "" {
				continue
			}
			if tenants[k] || isReservedTenant(k) {
				return fmt.Errorf("%s: %q is used twice or reserved", where, k)
			}
			tenants[k] = true
		}
		for j, u := range t.Users {
			if !isGUID(u.ObjectID) || u.Username == "" {
				return fmt.Errorf("%s.users[%d]: objectId must be a GUID and username set", where, j)
			}
			k := strings.ToLower(u.Username)
			if users[k] || users[u.ObjectID] {
				return fmt.Errorf("%s.users[%d]: %q is used twice", where, j, u.Username)
			}
			users[k], users[u.ObjectID] = true, true
		}
		for j, cl := range t.Clients {
			if err := cl.validate(); err != nil {
				return fmt.Errorf("%s.clients[%d]: %w", where, j, err)
			}
			if clients[cl.ClientID] {
				return fmt.Errorf("%s.clients[%d]: clientId %q is used twice", where, j, cl.ClientID)
			}
			clients[cl.ClientID] = true
		}
	}
	return nil
}

func (cl *Client) validate() error {
	if !isGUID(cl.ClientID) {
		return fmt.Errorf("clientId %q is not a GUID", cl.ClientID)
	}
	if cl.ClientID == GraphClientID {
		return fmt.Errorf("clientId %q is reserved for the built-in Graph", cl.ClientID)
	}
	for _, pem := range cl.Certificates {
		if _, err := parseCertificatePEM(pem); err != nil {
			return fmt.Errorf("certificates: %w", err)
		}
	}
	for _, s := range append(append([]string{}, cl.Scopes...), cl.AppRoles...) {
		if s == "" || strings.ContainsAny(s, " /") {
			return fmt.Errorf("scope or role %q must be one word without '/'", s)
		}
	}
	return nil
}

func isReservedTenant(k string) bool {
	return k == "common" || k == "organizations" || k == "consumers"
}

// isGUID reports whether s looks like 8-4-4-4-12 hex digits.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
	}
	return true
}
