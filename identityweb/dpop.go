package identityweb

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/identityweb/go-identityweb/internal/cachekey"
	"github.com/identityweb/go-identityweb/internal/dpop"
)

// DPoP (RFC 9449) binds tokens to a key the app holds: a stolen token is
// useless without the key. Options.DPoP turns it on for token acquisition;
// a resource server accepts DPoP-bound tokens in RequireBearer.

// dpopState is the acquirer's DPoP key and the nonces servers gave it.
type dpopState struct {
	signer *dpop.Signer // nil: DPoP is not used with this provider
	nonces sync.Map     // origin → the last DPoP-Nonce it sent
}

// dpopFor returns the DPoP state to use, resolving it once: the mode, the
// provider's dpop_signing_alg_values_supported and the key. It is nil when
// DPoP is off or the provider does not do it (mode "auto").
func (a *TokenAcquirer) dpopFor(ctx context.Context) (*dpopState, error) {
	if a.opts.DPoP == "" || a.opts.DPoP == "off" {
		return nil, nil
	}
	if st := a.dpop.Load(); st != nil {
		if st.signer == nil {
			return nil, nil
		}
		return st, nil
	}
	a.dpopMu.Lock()
	defer a.dpopMu.Unlock()
	if st := a.dpop.Load(); st != nil { // resolved while this caller waited
		if st.signer == nil {
			return nil, nil
		}
		return st, nil
	}
	var algs []string
	if !a.cfg.isEntra() { // Entra ID does not do DPoP
		m, err := a.endpoints.Metadata(ctx)
		if err != nil {
			return nil, err
		}
		algs = m.DPoPAlgs
	}
	alg, ok := dpop.ChooseAlg(algs)
	if !ok {
		if a.opts.DPoP == "required" {
			return nil, &configError{"DPoP", "is required, and the provider does not advertise DPoP (dpop_signing_alg_values_supported)"}
		}
		a.dpop.Store(&dpopState{})
		return nil, nil
	}
	key := a.opts.DPoPKey
	if key == nil {
		k, err := dpop.GenerateKey(alg)
		if err != nil {
			return nil, err
		}
		key = k
	}
	s, err := dpop.NewSigner(key)
	if err != nil {
		return nil, &configError{"DPoPKey", err.Error()}
	}
	st := &dpopState{signer: s}
	a.dpop.Store(st)
	return st, nil
}

// RotateDPoPKey replaces the DPoP key (nil: a new one is generated). Tokens
// bound to the old key are not served any more: the key's thumbprint is
// part of their cache key, so the next acquisitions get tokens bound to the
// new one.
func (a *TokenAcquirer) RotateDPoPKey(key crypto.Signer) error {
	a.dpopMu.Lock()
	old := a.dpop.Load()
	a.dpop.Store(nil)
	a.dpopMu.Unlock()
	if key != nil {
		s, err := dpop.NewSigner(key)
		if err != nil {
			return &configError{"DPoPKey", err.Error()}
		}
		a.dpop.Store(&dpopState{signer: s})
		return nil
	}
	if old != nil && old.signer != nil {
		k, err := dpop.GenerateKey(old.signer.Alg())
		if err != nil {
			return err
		}
		s, _ := dpop.NewSigner(k)
		a.dpop.Store(&dpopState{signer: s})
	}
	return nil
}

// proof makes a proof for a request to rawURL with the nonce its origin
// last sent.
func (st *dpopState) proof(method, rawURL string, now time.Time, accessToken string) (string, error) {
	return st.signer.Proof(method, rawURL, now, st.nonce(rawURL), accessToken)
}

func (st *dpopState) nonce(rawURL string) string {
	if v, ok := st.nonces.Load(originOf(rawURL)); ok {
		return v.(string)
	}
	return ""
}

// keepNonce remembers a server's DPoP-Nonce for its origin; it reports
// whether it is new.
func (st *dpopState) keepNonce(rawURL, nonce string) bool {
	if nonce == "" || len(nonce) > 512 {
		return false
	}
	old, loaded := st.nonces.Swap(originOf(rawURL), nonce)
	return !loaded || old.(string) != nonce
}

func originOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

// isDPoP reports whether a token type is DPoP.
func isDPoP(tokenType string) bool { return strings.EqualFold(tokenType, "DPoP") }

// dpopNonceChallenge reports whether a resource server's answer asks for a
// nonce (RFC 9449 §9): 401 with WWW-Authenticate DPoP error="use_dpop_nonce".
func dpopNonceChallenge(resp *http.Response) bool {
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("DPoP-Nonce") == "" {
		return false
	}
	for _, h := range resp.Header.Values("WWW-Authenticate") {
		if strings.HasPrefix(strings.ToLower(h), "dpop") && authParams(h)["error"] == "use_dpop_nonce" {
			return true
		}
	}
	return false
}

// The resource server's side.

// Proof windows: a proof's iat may be this old, or this far in the future;
// its jti is remembered (in the cache, shared by every instance) as long.
const (
	proofMaxAge  = 5 * time.Minute
	proofMaxSkew = time.Minute
)

var (
	errInvalidProof = &tokenError{"DPoP proof"}
	errDPoPNonce    = errors.New("identityweb: the DPoP proof needs this server's nonce")
)

// proofError is a refused DPoP proof; it matches errInvalidProof and
// ErrInvalidToken (the client gets invalid_dpop_proof).
type proofError struct{ reason string }

func (e *proofError) Error() string { return "identityweb: invalid DPoP proof: " + e.reason }
func (e *proofError) Is(t error) bool {
	return t == errInvalidProof || t == ErrInvalidToken
}

// validateDPoP validates a DPoP-bound token and its proof (RFC 9449 §4.3,
// §7): the token as RequireBearer does, bound (cnf.jkt) to the key that
// signed the proof; the proof for this request (method and URL, the URL's
// origin from configuration), recent, for this token (ath), not seen before
// by any instance (jti in the cache's replay store), with this server's
// nonce when it asks for one.
func (a *App) validateDPoP(r *http.Request, raw string, policies []Policy) (context.Context, error) {
	ctx := r.Context()
	claims, err := a.accessTokens.validate(ctx, raw)
	if err != nil {
		return ctx, err
	}
	if claims.jkt == "" {
		return ctx, &proofError{"the token is not DPoP-bound"}
	}
	proofs := r.Header.Values("DPoP")
	if len(proofs) != 1 {
		return ctx, &proofError{"one DPoP header is required"}
	}
	origin, ok := a.dpopOrigin(r)
	if !ok {
		return ctx, &configError{"PublicURL", "DPoP proofs name the URL a client called: set AppOptions.PublicURL (or Config.RedirectURI, or TrustForwardedHeaders behind a proxy) so the API knows its own; the Host header a client sends is not trusted"}
	}
	htu, err := dpop.HTU(origin + r.URL.EscapedPath())
	if err != nil {
		return ctx, &configError{"PublicURL", "is not an absolute http(s) URL"}
	}
	now := a.acq.clock.Now()
	check := dpop.Check{Method: r.Method, URL: htu, Now: now, MaxAge: proofMaxAge, MaxSkew: proofMaxSkew,
		Algs: dpop.Algorithms, AccessToken: raw}
	if a.opts.DPoPNonceKey != nil {
		check.Nonce = func(n string) bool {
			return n != "" && (n == a.dpopNonce(now, 0) || n == a.dpopNonce(now, -1))
		}
	}
	proven, err := dpop.Verify(proofs[0], check)
	switch {
	case errors.Is(err, dpop.ErrNonce):
		return ctx, errDPoPNonce
	case err != nil:
		return ctx, &proofError{strings.TrimPrefix(err.Error(), "dpop: invalid proof: ")}
	case proven.JKT != claims.jkt:
		return ctx, &proofError{"signed by another key than the token is bound to"}
	}
	added, err := a.replay.Add(ctx, "idw-dpop-jti|"+cachekey.Digest(proven.JKT+"|"+proven.JTI), []byte{1}, proofMaxAge+proofMaxSkew)
	if err != nil {
		return ctx, err
	}
	if !added {
		return ctx, &proofError{"replayed (jti seen before)"}
	}
	return a.authorize(ctx, raw, claims, policies)
}

// dpopOrigin is the API's own origin, as configured: never from the Host
// or forwarded headers a client sends unless the app trusts a proxy.
func (a *App) dpopOrigin(r *http.Request) (string, bool) {
	switch {
	case a.opts.PublicURL != nil, a.cfg.RedirectURI != "":
		return a.publicURL(r), true
	case a.opts.TrustForwardedHeaders:
		if proto, host, ok := forwarded(r); ok {
			return proto + "://" + host, true
		}
	}
	return "", false
}

// dpopNonce is the server nonce of the minute now falls in (offset -1: the
// minute before), derived from AppOptions.DPoPNonceKey so every instance
// sharing the key issues and accepts the same.
func (a *App) dpopNonce(now time.Time, offset int64) string {
	m := hmac.New(sha256.New, a.opts.DPoPNonceKey)
	binary.Write(m, binary.BigEndian, now.Unix()/60+offset)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}
