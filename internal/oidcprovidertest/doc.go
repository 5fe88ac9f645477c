// Package oidcprovidertest runs oidc-provider — an independent, OpenID
// Certified provider from npm — for tests of the standards (non-Entra) side
// of the library, the way net/http/httptest runs HTTP servers: Start launches
// `node server.js` on a free loopback port, waits until its discovery
// document answers, and stops it at test cleanup. A provider the project
// wrote itself (identitywebtest) cannot be the only judge of the project.
//
// The provider is configured (server.js, from a JSON file this package
// writes) with:
//
//   - four confidential clients, one per client authentication method:
//     client_secret_basic, client_secret_post, and private_key_jwt with an
//     RSA key and with an EC P-256 key (the public JWKs, kid = RFC 7638
//     thumbprint, are registered from the keys in Options);
//   - the grants authorization_code (PKCE S256 required), refresh_token
//     (rotated on every use) and client_credentials;
//   - RFC 8707 resource indicators: two resource servers issuing RFC 9068
//     JWT access tokens (typ at+jwt) and one issuing opaque tokens, read
//     through RFC 7662 introspection;
//   - introspection, revocation (RFC 7009), RP-initiated logout, back-channel
//     logout, DPoP (RFC 9449), PAR (RFC 9126) and RFC 9207 issuer
//     identification;
//   - two users, alice and bob, with email, name and roles claims, signed in
//     through oidc-provider's development interactions, which Browser drives.
//
// From a test in another package:
//
//	p := oidcprovidertest.Start(t, oidcprovidertest.Options{})
//	m := p.Metadata()                  // discovery: m.TokenEndpoint, m.TokenEndpointAuthSigningAlgValuesSupported, …
//	c := p.Clients().SecretBasic       // c.ID, c.Secret (RSAKey, ECKey: c.Key, c.KeyID)
//	// … point the code under test at p.Issuer() with c, and start a sign-in:
//	back, err := p.NewBrowser().SignIn(authURL, oidcprovidertest.Alice, true)
//	// back is the redirect URI with code, state and iss; offline_access needs prompt=consent.
//	out := p.EndSessionURL(idToken, state) // RP-initiated logout; Browser.SignOut confirms it
//
// Token exchange (RFC 8693) is not configured: oidc-provider 9 does not
// implement it, and a handler written here would make our own code the judge.
// Discovery therefore does not advertise it.
//
// Node.js (20 or later) and npm are needed. Start runs `npm ci` in this
// folder on first use when node_modules is missing or stale (under a file
// lock, so parallel test binaries do not race); its output is shown only when
// it fails. When node or npm cannot be found, Start skips the test on a
// developer machine and fails it when the CI environment variable is set, as
// internal/redistest does for redis-server.
package oidcprovidertest
