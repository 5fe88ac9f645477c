// Package jwks is an OpenID Provider's signing key set (RS256/PS256): loaded
// on first use, read again on a schedule so that keys the provider removed
// stop validating (the owner is told which), refetched for an unknown kid at
// most once per interval so a flood of tokens with random kids cannot become
// a flood of requests, one request at a time with a back-off after a failure,
// and usable as go-oidc's KeySet.
package jwks
