// Package discovery resolves an OpenID Provider's endpoints: Entra's by its
// URL templates (instance and tenant), any other provider's by OpenID
// Connect Discovery, with the issuer checked against the configured one.
package discovery
