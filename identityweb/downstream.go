package identityweb

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Identity says whose token a downstream API receives.
type Identity int

// Identities.
const (
	AsUser     Identity = iota // the signed-in user of the session (web apps)
	AsApp                      // the app itself (client credentials)
	OnBehalfOf                 // the caller of this API (OBO, after RequireBearer)
)

// String names the identity.
func (i Identity) String() string {
	switch i {
	case AsUser:
		return "user"
	case AsApp:
		return "app"
	case OnBehalfOf:
		return "on_behalf_of"
	}
	return "unknown"
}

// DownstreamAPI describes an API this app calls (Identity Web's
// DownstreamApis configuration).
type DownstreamAPI struct {
	// BaseURL says where the token may go: requests to its origin — the
	// same scheme, host and port ("https://h" and "https://h:443" are one;
	// the host compared in lower case, without a trailing dot, in its ASCII
	// form) — whose path is BaseURL's path or under it on a "/" boundary
	// ("/v1" covers "/v1/items", not "/v10"). A request elsewhere, with
	// user info in its URL, a Host header naming another host, or a "." or
	// ".." path segment, fails (the error matches ErrConfig) and sends
	// nothing; a redirect elsewhere is followed without the token.
	BaseURL string
	// Scopes to ask for (for AsApp, the single "…/.default" scope).
	Scopes []string
	// As selects whose token is sent. Default: AsUser.
	As Identity
	// Resource is the API's RFC 8707 resource indicator (its audience), for
	// standards providers that issue tokens per resource. Default: none
	// (Entra ID names the resource in Scopes).
	Resource string
	// Transport sends the requests. Default: http.DefaultTransport.
	Transport http.RoundTripper
	// Timeout of the returned client. Default: 30 s.
	Timeout time.Duration
}

// DownstreamClient returns an *http.Client that adds "Authorization: Bearer"
// to each request with a token for api, acquired through the cache for the
// user or caller of the request's context (make outgoing requests with
// http.NewRequestWithContext(r.Context(), …)). A 401 with a claims
// challenge is retried once with the claims when no user is involved; for a
// user it becomes a *ChallengeError (pass it to Challenge). api is checked
// here, once: the error matches ErrConfig.
func (a *App) DownstreamClient(api DownstreamAPI) (*http.Client, error) {
	scope, ok := newTokenScope(api.BaseURL)
	switch {
	case !ok:
		return nil, &configError{"DownstreamAPI.BaseURL", "must be an absolute http(s) URL without user info, query or fragment, such as https://api.contoso.com/v1"}
	case api.As != AsUser && api.As != AsApp && api.As != OnBehalfOf:
		return nil, &configError{"DownstreamAPI.As", "must be AsUser, AsApp or OnBehalfOf"}
	case api.As == AsApp && len(api.Scopes) != 1:
		return nil, &configError{"DownstreamAPI.Scopes", "AsApp needs exactly one scope, the resource's \".default\""}
	case len(api.Scopes) == 0:
		return nil, &configError{"DownstreamAPI.Scopes", "needs at least one scope of the API"}
	}
	api.Scopes = append([]string(nil), api.Scopes...)
	if api.Transport == nil {
		api.Transport = http.DefaultTransport
	}
	if api.Timeout <= 0 {
		api.Timeout = 30 * time.Second
	}
	t := &downstreamTransport{a: a, api: api, scope: scope}
	if api.Resource != "" {
		t.opts = []CallOption{WithResource(api.Resource)}
		if o := collect(t.opts); o.err != nil {
			return nil, &configError{"DownstreamAPI.Resource", "must be an absolute URI without a fragment (RFC 8707)"}
		}
	}
	return &http.Client{Timeout: api.Timeout, Transport: t}, nil
}

type downstreamTransport struct {
	a     *App
	api   DownstreamAPI
	scope tokenScope
	opts  []CallOption // WithResource, when the API has one
}

var errOutsideBaseURL = &configError{"DownstreamAPI.BaseURL", "the request is not under it (or has user info, another Host header or a dot segment); nothing was sent"}

func (t *downstreamTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil || req.URL.User != nil {
		return nil, errOutsideBaseURL
	}
	if !t.scope.allows(req.URL, req.Host) {
		if req.Response == nil { // the caller's own request
			return nil, errOutsideBaseURL
		}
		// A redirect elsewhere: followed as any client would, without the
		// token (http.Client never saw the header: send adds it to a copy).
		out := req.Clone(req.Context())
		out.Header.Del("Authorization")
		out.Header.Del("DPoP")
		return t.api.Transport.RoundTrip(out)
	}
	res, err := t.token(req, "")
	if err != nil {
		return nil, err
	}
	resp, err := t.send(req, res)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	claims, ok := claimsChallenge(resp.Header.Values("WWW-Authenticate"))
	if !ok {
		return resp, nil
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if t.api.As == AsUser {
		return nil, &ChallengeError{Scopes: slices.Clone(t.api.Scopes), Claims: claims, Err: ErrInteractionRequired}
	}
	if req.Body != nil && req.GetBody == nil {
		return nil, &ChallengeError{Scopes: slices.Clone(t.api.Scopes), Claims: claims, Err: ErrInteractionRequired}
	}
	res, err = t.token(req, claims)
	if err != nil {
		return nil, err
	}
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		req = req.Clone(req.Context())
		req.Body = body
	}
	return t.send(req, res)
}

// send sends req with the token: "Bearer", or for a DPoP-bound token
// "DPoP" with a fresh proof of this request (and the token's hash); a
// resource server's use_dpop_nonce answer is retried once with its nonce.
// A DPoP-bound token is never sent as a bearer token.
func (t *downstreamTransport) send(req *http.Request, res Result) (*http.Response, error) {
	if !isDPoP(res.TokenType) {
		out := req.Clone(req.Context())
		out.Header.Set("Authorization", "Bearer "+res.AccessToken)
		return t.api.Transport.RoundTrip(out)
	}
	pop := t.a.acq.dpop.Load()
	if pop == nil || pop.signer == nil {
		return nil, errors.New("identityweb: the token is DPoP-bound and the acquirer has no DPoP key")
	}
	for attempt := 0; ; attempt++ {
		out := req.Clone(req.Context())
		if attempt > 0 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			out.Body = body
		}
		proof, err := pop.proof(req.Method, req.URL.String(), t.a.acq.clock.Now(), res.AccessToken)
		if err != nil {
			return nil, err
		}
		out.Header.Set("Authorization", "DPoP "+res.AccessToken)
		out.Header.Set("DPoP", proof)
		resp, err := t.api.Transport.RoundTrip(out)
		if err != nil || attempt > 0 || !dpopNonceChallenge(resp) ||
			!pop.keepNonce(req.URL.String(), resp.Header.Get("DPoP-Nonce")) || (req.Body != nil && req.GetBody == nil) {
			return resp, err
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}
}

func (t *downstreamTransport) token(req *http.Request, claims string) (Result, error) {
	opts := t.opts
	if claims != "" {
		opts = append(opts[:len(opts):len(opts)], WithClaims(claims))
	}
	return t.a.Token(req.Context(), t.api.As, t.api.Scopes, opts...)
}

// claimsChallenge finds error="insufficient_claims" and its base64 claims
// in WWW-Authenticate headers.
func claimsChallenge(headers []string) (string, bool) {
	for _, h := range headers {
		params := authParams(h)
		if params["error"] != "insufficient_claims" || params["claims"] == "" {
			continue
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(params["claims"]); err == nil {
				return string(b), true
			}
		}
	}
	return "", false
}

// authParams parses the key="value" parameters of a challenge.
func authParams(h string) map[string]string {
	out := map[string]string{}
	if i := strings.IndexByte(h, ' '); i >= 0 {
		h = h[i+1:]
	}
	for len(h) > 0 {
		h = strings.TrimLeft(h, " ,")
		eq := strings.IndexByte(h, '=')
		if eq <= 0 {
			break
		}
		k := strings.ToLower(strings.TrimSpace(h[:eq]))
		h = h[eq+1:]
		var v string
		if strings.HasPrefix(h, `"`) {
			end := strings.IndexByte(h[1:], '"')
			if end < 0 {
				break
			}
			v, h = h[1:1+end], h[2+end:]
		} else {
			end := strings.IndexByte(h, ',')
			if end < 0 {
				end = len(h)
			}
			v, h = strings.TrimSpace(h[:end]), h[end:]
		}
		out[k] = v
	}
	return out
}

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
	res, err := s.a.ForApp(s.ctx, s.scope)
	if err != nil {
		return nil, err
	}
	if isDPoP(res.TokenType) {
		return nil, errDPoPBound
	}
	// Expiry less the buffer, so oauth2 never sends a token the acquirer
	// would already replace.
	return &oauth2.Token{AccessToken: res.AccessToken, TokenType: res.TokenType, Expiry: res.ExpiresOn.Add(-s.a.opts.ExpiryBuffer)}, nil
}

// errDPoPBound: a bearer-only consumer was given a DPoP-bound token.
var errDPoPBound = &configError{"DPoP", "the token is DPoP-bound and this adapter sends bearer tokens only: use DownstreamClient, or turn DPoP off"}
