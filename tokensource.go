package identityweb

import (
	"context"

	"golang.org/x/oauth2"
)

// AppTokenSource adapts ForApp to an oauth2.TokenSource, for libraries that
// take one (oauth2.NewClient, gRPC credentials, cloud SDKs). Every Token call
// goes through the acquirer's cache, so it is cheap; wrapping it in
// oauth2.ReuseTokenSource is not needed.
func (a *TokenAcquirer) AppTokenSource(ctx context.Context, scope string) oauth2.TokenSource {
	return appTokenSource{ctx: ctx, a: a, scope: scope}
}

type appTokenSource struct {
	ctx   context.Context
	a     *TokenAcquirer
	scope string
}

func (s appTokenSource) Token() (*oauth2.Token, error) {
	r, err := s.a.ForApp(s.ctx, s.scope)
	if err != nil {
		return nil, err
	}
	// Expiry less the buffer, so oauth2 never sends a token the acquirer
	// would already replace.
	return &oauth2.Token{AccessToken: r.AccessToken, TokenType: r.TokenType, Expiry: r.ExpiresOn.Add(-s.a.opts.ExpiryBuffer)}, nil
}
