// Package benchmarks measures identityweb next to the libraries a Go team
// would otherwise pick (MSAL Go, x/oauth2, go-oidc), in the same run and on
// the same development identity provider. It is a nested module so those
// peers never enter the core go.mod.
//
// For now it holds the compatibility tests that show Entra's own client
// library, MSAL Go, works unchanged against identitywebtest.
package benchmarks
