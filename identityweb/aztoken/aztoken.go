// Package aztoken adapts identityweb to azcore.TokenCredential, so that the
// Azure SDK for Go and the Microsoft Graph Go SDK run on identityweb's
// tokens — for the signed-in user, for the app, or on behalf of an API's
// caller — with its cache, retries and metadata (Microsoft.Identity.Web's
// MicrosoftIdentityTokenCredential). It is a nested module so that the core
// module never requires the Azure SDK.
//
//	cred := aztoken.NewCredential(app, aztoken.Options{As: identityweb.AsUser})
//	client, _ := azblob.NewClient(url, cred, nil)
//	client.DownloadStream(r.Context(), …) // r's context carries the session
package aztoken

import (
	"context"
	"errors"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/identityweb/go-identityweb/identityweb"
)

// Options configure a Credential.
type Options struct {
	// As selects whose token the SDK gets. Default: identityweb.AsUser.
	As identityweb.Identity
}

// Credential is an azcore.TokenCredential backed by an identityweb.App.
// For AsUser and OnBehalfOf, SDK calls must be made with the incoming
// request's context (it carries the session or the validated bearer token).
type Credential struct {
	app  *identityweb.App
	opts Options
}

var _ azcore.TokenCredential = (*Credential)(nil)

// NewCredential returns a Credential for app.
func NewCredential(app *identityweb.App, opts Options) *Credential {
	return &Credential{app: app, opts: opts}
}

// GetToken acquires a token for the requested scopes, honouring a claims
// challenge and a tenant override from the SDK.
func (c *Credential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	var call []identityweb.CallOption
	if o.Claims != "" {
		call = append(call, identityweb.WithClaims(o.Claims))
	}
	if o.TenantID != "" {
		call = append(call, identityweb.WithTenant(o.TenantID))
	}
	res, err := c.app.Token(ctx, c.opts.As, o.Scopes, call...)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	if strings.EqualFold(res.TokenType, "DPoP") { // the SDK would send it as a bearer token
		return azcore.AccessToken{}, errors.New("aztoken: the token is DPoP-bound; Azure SDK clients send bearer tokens only: turn identityweb's DPoP off for this app")
	}
	return azcore.AccessToken{Token: res.AccessToken, ExpiresOn: res.ExpiresOn, RefreshOn: res.RefreshOn}, nil
}
