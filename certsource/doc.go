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
// NewCertificate (in memory), NewSecret (development), and NewChain to try
// several in order. Key Vault is in the keyvault module.
package certsource
