// Package dpop makes and checks DPoP proofs (RFC 9449): a JWT, signed with
// a key the client holds and carrying its public JWK, that binds one HTTP
// request (method, URL, time, a unique id, and the access token's hash) to
// that key. Signing and verification go through go-jose.
package dpop
