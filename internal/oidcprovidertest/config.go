package oidcprovidertest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// The clients' ids. Each uses one client authentication method.
const (
	ClientSecretBasicID = "web-secret-basic" // client_secret_basic
	ClientSecretPostID  = "web-secret-post"  // client_secret_post
	ClientRSAKeyID      = "web-key-rsa"      // private_key_jwt, RSA key
	ClientECKeyID       = "web-key-ec"       // private_key_jwt, EC P-256 key
)

// Default redirect URIs registered for every client. Nothing listens there:
// Browser.SignIn returns the URL the provider redirects to without opening it.
const (
	DefaultRedirectURI           = "http://127.0.0.1/callback"
	DefaultPostLogoutRedirectURI = "http://127.0.0.1/signed-out"
)

// The resource servers (RFC 8707 resource indicators).
const (
	// ResourceTodo issues RFC 9068 JWT access tokens with the scopes
	// todo.read and todo.write.
	ResourceTodo = "urn:identityweb:todo"
	// ResourceDirectory issues RFC 9068 JWT access tokens with the scope
	// directory.read.
	ResourceDirectory = "urn:identityweb:directory"
	// ResourceLedger issues opaque access tokens with the scope ledger.read;
	// a resource server reads them through introspection (RFC 7662).
	ResourceLedger = "urn:identityweb:ledger"
)

// The users' ids, typed at the development sign-in page.
const (
	Alice = "alice"
	Bob   = "bob"
)

// User is an account the provider signs in. Its claims are released under
// the scopes profile (name), email (email, email_verified) and roles (roles);
// roles also travel in the user's JWT access tokens.
type User struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Email string   `json:"email"`
	Roles []string `json:"roles"`
}

// DefaultUsers returns alice and bob.
func DefaultUsers() []User {
	return []User{
		{ID: Alice, Name: "Alice Example", Email: "alice@example.test", Roles: []string{"Todo.Admin", "Todo.User"}},
		{ID: Bob, Name: "Bob Example", Email: "bob@example.test", Roles: []string{"Todo.User"}},
	}
}

// Resource is a resource server the provider issues access tokens for.
type Resource struct {
	// Indicator is the RFC 8707 resource value and the tokens' audience.
	Indicator string `json:"indicator"`
	// Scope lists the resource's scopes, space-separated.
	Scope string `json:"scope"`
	// Format is "jwt" (RFC 9068) or "opaque".
	Format string `json:"format"`
	// TTL is the access tokens' lifetime in seconds.
	TTL int `json:"ttl"`
}

// Resources returns the resource servers the provider knows.
func Resources() []Resource {
	return []Resource{
		{Indicator: ResourceTodo, Scope: "todo.read todo.write", Format: "jwt", TTL: 3600},
		{Indicator: ResourceDirectory, Scope: "directory.read", Format: "jwt", TTL: 3600},
		{Indicator: ResourceLedger, Scope: "ledger.read", Format: "opaque", TTL: 3600},
	}
}

// Client is a confidential client registered at the provider.
type Client struct {
	// ID is the client_id.
	ID string
	// AuthMethod is the registered token_endpoint_auth_method.
	AuthMethod string
	// Secret is the client secret; empty for private_key_jwt clients.
	Secret string
	// Key signs the client's assertions (private_key_jwt clients only).
	Key crypto.Signer
	// KeyID is the kid of the registered public JWK: its RFC 7638 SHA-256
	// thumbprint (private_key_jwt clients only).
	KeyID string
	// RedirectURIs are the registered redirect URIs.
	RedirectURIs []string
}

// Clients are the provider's clients, one per authentication method.
type Clients struct {
	// SecretBasic is ClientSecretBasicID (client_secret_basic).
	SecretBasic Client
	// SecretPost is ClientSecretPostID (client_secret_post).
	SecretPost Client
	// RSAKey is ClientRSAKeyID (private_key_jwt with Options.RSAKey).
	RSAKey Client
	// ECKey is ClientECKeyID (private_key_jwt with Options.ECKey).
	ECKey Client
}

// All returns the four clients.
func (c Clients) All() []Client { return []Client{c.SecretBasic, c.SecretPost, c.RSAKey, c.ECKey} }

// serverConfig is the JSON file server.js reads.
type serverConfig struct {
	Host           string           `json:"host"`
	AccessTokenTTL int              `json:"accessTokenTTL"`
	Users          []User           `json:"users"`
	Resources      []Resource       `json:"resources"`
	Clients        []map[string]any `json:"clients"`
	DPoPNonce      bool             `json:"dpopNonce"`
}

// fill copies opts and fills in its defaults.
func (opts Options) fill() (Options, error) {
	if len(opts.RedirectURIs) == 0 {
		opts.RedirectURIs = []string{DefaultRedirectURI}
	}
	if len(opts.PostLogoutRedirectURIs) == 0 {
		opts.PostLogoutRedirectURIs = []string{DefaultPostLogoutRedirectURI}
	}
	if len(opts.Users) == 0 {
		opts.Users = DefaultUsers()
	}
	if opts.AccessTokenTTL <= 0 {
		opts.AccessTokenTTL = time.Hour
	}
	var err error
	if opts.RSAKey == nil {
		if opts.RSAKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return opts, err
		}
	}
	if opts.ECKey == nil {
		if opts.ECKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return opts, err
		}
	}
	if opts.ECKey.Curve != elliptic.P256() {
		return opts, fmt.Errorf("oidcprovidertest: Options.ECKey must be a P-256 key")
	}
	return opts, nil
}

// newSecret returns a random client secret. It ends with printable ASCII
// characters (a secret is *VSCHAR, RFC 6749 Appendix A) that RFC 6749
// §2.3.1's form-urlencoding must escape in a Basic header, so that tests
// catch a client that sends them raw.
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b) + " :+/%&="
}

// publicJWK returns the public JWK of key with kid = its RFC 7638 SHA-256
// thumbprint, and that kid.
func publicJWK(key crypto.Signer) (map[string]any, string, error) {
	jwk := jose.JSONWebKey{Key: key.Public(), Use: "sig"}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, "", err
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	raw, err := jwk.MarshalJSON()
	if err != nil {
		return nil, "", err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, "", err
	}
	return m, jwk.KeyID, nil
}

// buildClients makes the four clients and their oidc-provider metadata.
func buildClients(opts Options) (Clients, []map[string]any, error) {
	cs := Clients{
		SecretBasic: Client{ID: ClientSecretBasicID, AuthMethod: "client_secret_basic", Secret: newSecret()},
		SecretPost:  Client{ID: ClientSecretPostID, AuthMethod: "client_secret_post", Secret: newSecret()},
		RSAKey:      Client{ID: ClientRSAKeyID, AuthMethod: "private_key_jwt", Key: opts.RSAKey},
		ECKey:       Client{ID: ClientECKeyID, AuthMethod: "private_key_jwt", Key: opts.ECKey},
	}
	var meta []map[string]any
	for _, c := range []*Client{&cs.SecretBasic, &cs.SecretPost, &cs.RSAKey, &cs.ECKey} {
		c.RedirectURIs = append([]string(nil), opts.RedirectURIs...)
		m := map[string]any{
			"client_id":                  c.ID,
			"client_name":                c.ID,
			"token_endpoint_auth_method": c.AuthMethod,
			"grant_types":                []string{"authorization_code", "refresh_token", "client_credentials"},
			"response_types":             []string{"code"},
			"redirect_uris":              c.RedirectURIs,
			"post_logout_redirect_uris":  opts.PostLogoutRedirectURIs,
		}
		if opts.BackchannelLogoutURI != "" {
			m["backchannel_logout_uri"] = opts.BackchannelLogoutURI
			m["backchannel_logout_session_required"] = true
		}
		if c.Secret != "" {
			m["client_secret"] = c.Secret
		}
		if c.Key != nil {
			jwk, kid, err := publicJWK(c.Key)
			if err != nil {
				return cs, nil, fmt.Errorf("oidcprovidertest: the JWK of %s: %w", c.ID, err)
			}
			c.KeyID = kid
			m["jwks"] = map[string]any{"keys": []any{jwk}}
		}
		meta = append(meta, m)
	}
	return cs, meta, nil
}
