// Package identitywebtest is a development and test OpenID Provider that
// speaks Microsoft Entra ID's v2.0 protocol closely enough that Entra client
// libraries (and this module) work against it unchanged once its certificate
// is trusted and instance discovery is off; it is also a plain standards
// OpenID Provider for golang.org/x/oauth2 and github.com/coreos/go-oidc/v3.
//
// In tests it is used like net/http/httptest:
//
//	idp := identitywebtest.NewServer(t, identitywebtest.Options{})
//	// idp.URL is https://127.0.0.1:port; idp.Client() trusts it.
//	// The built-in configuration (DefaultConfig) has one tenant, a web app,
//	// a web API, a daemon and two users; see the constants.
//
// For samples and local development, StartLocal serves it on a fixed
// loopback address over plain HTTP (HTTPS on request), where a browser
// reaches it without a certificate warning:
//
//	idp, err := identitywebtest.StartLocal("localhost:5311", identitywebtest.LocalOptions{})
//	// identityweb.Config{Instance: idp.URL + "/", TenantID: identitywebtest.DefaultTenantID, …}
//
// As a program, "go run ./samples/devidp" serves it for the samples.
//
// # Endpoints (per tenant: an id, a domain, "common" or "organizations")
//
//	/{tenant}/v2.0/.well-known/openid-configuration   discovery
//	/{tenant}/discovery/v2.0/keys                      JWKS (every published signing key)
//	/{tenant}/oauth2/v2.0/authorize                    sign-in and consent pages
//	/{tenant}/oauth2/v2.0/token                        token endpoint
//	/{tenant}/oauth2/v2.0/logout                       end the provider's session
//
// "common" and "organizations" publish the issuer template
// "https://host/{tenantid}/v2.0"; tokens carry the user's own tenant.
//
// # Grants
//
// Authorization code (PKCE S256 or plain, state, nonce, response_mode query,
// fragment or form_post); refresh token (rotating: each is redeemed once;
// Options.RevokeRefreshTokenFamilyOnReuse revokes the whole family on reuse);
// client credentials ("{resource}/.default", app roles in "roles");
// on-behalf-of (GrantJWTBearer with requested_token_use=on_behalf_of) and RFC
// 8693 token exchange (GrantTokenExchange), both validating the incoming
// token's signature, audience and lifetime. For development only, and when
// Options.DevelopmentPasswordGrant is set, the password grant gives a shell
// a user's token without a browser.
//
// Clients authenticate with client_secret_post, client_secret_basic or
// private_key_jwt (PS256 or RS256; the certificate named by x5t#S256, x5t or
// kid; aud = the token endpoint; at most 10 minutes of life).
//
// Tokens are Entra v2.0 JWTs (iss, aud, tid, oid, sub, azp, azpacr, scp or
// roles, ver, iat, nbf, exp, uti, rh), RS256-signed, with "kid" and "x5t".
// Access tokens live 60–90 minutes unless Options.AccessTokenLifetime says
// otherwise; from 2 hours up responses carry refresh_in (half the
// lifetime), as Entra's long-lived tokens do.
//
// Errors are shaped as Entra's: error, error_description starting
// "AADSTSnnnn:", error_codes, timestamp, trace_id, correlation_id (the
// client-request-id header when the client sent one), error_uri, and
// suberror/claims where they apply. The Code… constants list the codes.
//
// # For tests
//
// FailNext, SetLatency and SetOutage inject faults; Requests and
// TokenRequests report what reached the provider; RotateSigningKey,
// RevokeCertificate, RevokeRefreshTokens, RevokeConsent and
// SetAccessTokenLifetime change its state; Options.Now gives it a fake clock;
// Options.AutoSignIn or a Browser signs users in without a person.
package identitywebtest
