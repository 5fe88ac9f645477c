// Package identityweb is the facade a Go web app, web API or daemon imports to
// sign users in with OpenID Connect, protect APIs with JWT bearer tokens, and
// acquire access tokens for downstream APIs — for the user, for the app, or on
// behalf of an API's caller — with the high-availability practices of
// Microsoft.Identity.Web and MSAL built in: a tiered L1/L2 token cache,
// proactive refresh, retry and throttling, certificate rotation and metrics.
//
// It works with Microsoft Entra ID and with any standards OpenID Provider.
//
// Status: the project is being built capability by capability. This
// release holds the development identity provider (package identitywebtest,
// runnable as samples/devidp) that every other part is tested against; the
// configuration, sign-in middleware, bearer validation and token acquisition
// of this package arrive with the next releases.
package identityweb
