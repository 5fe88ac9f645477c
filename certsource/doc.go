// Package certsource provides client credentials that rotate without a
// restart, in the order Microsoft recommends: managed identity (a federated
// credential assertion from IMDS or App Service), certificates kept in Azure
// Key Vault, workload identity token files, and certificates from PEM/PFX
// files or base64 strings — plus client secrets for development. Sources can
// be listed in order; on a certificate-class error from the identity provider
// the engine asks the source to reload and retries once, then moves on.
//
// Sources: NewManagedIdentity (IMDS or App Service), NewTokenFile
// (workload identity), NewFile (PEM or PFX, reloaded on change), NewBase64,
// NewCertificate (in memory), NewKey (a bare key registered as a JWK),
// NewSecret (development), and NewChain to try several in order. Key Vault is
// in the keyvault module.
//
// Certificates and keys sign RFC 7523 client assertions with RSA (PS256 or
// RS256) or EC P-256 (ES256) keys, through go-jose. Every assertion's header
// carries "kid", the RFC 7638 JWK thumbprint, beside the certificate's
// "x5t#S256". The zero AuthRequest signs what Entra ID expects (PS256, an
// assertion reused while it has minutes to live); for a standards provider
// the caller passes the provider's token_endpoint_auth_signing_alg_values_supported
// as AuthRequest.SigningAlgs and sets AuthRequest.FreshAssertion, since such
// providers accept each jti once. How a client secret travels
// (client_secret_basic or client_secret_post) is the caller's choice:
// SecretMethodFor and AuthParams.Apply.
package certsource
