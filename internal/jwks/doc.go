// Package jwks is an OpenID Provider's signing key set (RS256/PS256): loaded
// on first use, refetched for an unknown kid at most once per interval so a
// flood of tokens with random kids cannot become a flood of requests, and
// usable as go-oidc's KeySet.
package jwks
