package keyvault

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/identityweb/go-identityweb/certsource"
)

// ManagedIdentityCredential is an azcore.TokenCredential on certsource's
// managed identity client, so that the vault is reached with the app's
// managed identity (no secret to fetch the certificate with). opts.Audience
// is ignored: each scope's resource is asked for.
func ManagedIdentityCredential(opts certsource.ManagedIdentityOptions) azcore.TokenCredential {
	return &miCredential{opts: opts, byResource: map[string]*certsource.ManagedIdentity{}}
}

type miCredential struct {
	opts       certsource.ManagedIdentityOptions
	mu         sync.Mutex
	byResource map[string]*certsource.ManagedIdentity
}

func (c *miCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(o.Scopes) != 1 {
		return azcore.AccessToken{}, errors.New("keyvault: a managed identity token needs exactly one scope")
	}
	resource := strings.TrimSuffix(o.Scopes[0], "/.default")
	c.mu.Lock()
	mi := c.byResource[resource]
	if mi == nil {
		opts := c.opts
		opts.Audience = resource
		mi = certsource.NewManagedIdentity(opts)
		c.byResource[resource] = mi
	}
	c.mu.Unlock()
	p, err := mi.ClientAuth(ctx, certsource.AuthRequest{Now: time.Now()})
	if err != nil {
		return azcore.AccessToken{}, err
	}
	// The token is cached by mi until 5 minutes before it expires; the SDK
	// only needs to know it is good for now.
	return azcore.AccessToken{Token: p.ClientAssertion, ExpiresOn: time.Now().Add(5 * time.Minute)}, nil
}
