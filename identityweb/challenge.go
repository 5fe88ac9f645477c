package identityweb

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/identityweb/go-identityweb/internal/telemetry"
)

// ChallengeError says the user (or, in an API, its caller) must go through
// sign-in again: to consent to Scopes, or to satisfy Claims. It matches
// ErrInteractionRequired. Pass it to App.Challenge.
type ChallengeError struct {
	Scopes []string
	Claims string
	Err    error
}

func (e *ChallengeError) Error() string {
	msg := "identityweb: the user must sign in again"
	if len(e.Scopes) > 0 {
		msg += " (scopes " + strings.Join(e.Scopes, " ") + ")"
	}
	if e.Claims != "" {
		msg += " (claims challenge)"
	}
	return msg
}

// Unwrap returns the cause.
func (e *ChallengeError) Unwrap() error { return e.Err }

// Is matches ErrInteractionRequired.
func (e *ChallengeError) Is(t error) bool { return t == ErrInteractionRequired }

// asChallenge turns an interaction-required error into a ChallengeError.
func asChallenge(err error, scopes []string) error {
	if err == nil || !errors.Is(err, ErrInteractionRequired) {
		return err
	}
	var ce *ChallengeError
	if errors.As(err, &ce) {
		return err
	}
	out := &ChallengeError{Scopes: append([]string(nil), scopes...), Err: err}
	var oe *OAuthError
	if errors.As(err, &oe) {
		out.Claims = oe.Claims
	}
	return out
}

// Token returns a token for a downstream API, as whom says:
//
//   - AsUser: the signed-in user of the request's session (ctx must come
//     from a request that passed Handler or the app's session middleware);
//     scopes of the downstream API.
//   - AsApp: the app itself; exactly one scope, the resource's ".default".
//   - OnBehalfOf: the caller of this API (ctx must come from a request that
//     passed RequireBearer, or from ValidateToken).
//
// When the user must sign in again (consent for new scopes, a claims
// challenge, tokens gone from the cache) the error is a *ChallengeError:
// pass it to Challenge. Misuse (a context without a session or a bearer
// token, wrong scopes) matches ErrConfig.
func (a *App) Token(ctx context.Context, as Identity, scopes []string, opts ...CallOption) (Result, error) {
	switch as {
	case AsApp:
		if len(scopes) != 1 {
			return Result{}, misuse("a token AsApp needs exactly one scope, the resource's \".default\"")
		}
		return a.acq.ForApp(ctx, scopes[0], opts...)
	case OnBehalfOf:
		b, ok := ctx.Value(ctxBearer).(*bearer)
		if !ok || b.raw == "" {
			return Result{}, misuse("a token OnBehalfOf needs a context that passed RequireBearer or ValidateToken")
		}
		res, err := a.acq.OnBehalfOf(ctx, b.raw, scopes, opts...)
		return res, asChallenge(err, scopes)
	case AsUser:
		key := a.sessions.Key(ctx)
		if key == "" {
			if !a.sessions.Loaded(ctx) {
				return Result{}, misuse("a token AsUser needs a context that passed the session middleware (App.Handler)")
			}
			return Result{}, &ChallengeError{Scopes: append([]string(nil), scopes...), Err: errNotSignedIn}
		}
		res, err := a.acq.Session(key).ForUser(ctx, scopes, opts...)
		return res, asChallenge(err, scopes)
	}
	return Result{}, misuse("unknown Identity")
}

// Challenge answers an error of Token or of a downstream client: a browser user goes back through sign-in (with the
// extra scopes or claims) and returns to the same page; an API's caller
// gets 401/403 with a WWW-Authenticate challenge; throttling gives 503 with
// Retry-After; a configuration error 500; anything else 503. It never
// writes an error's text to the client.
func (a *App) Challenge(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	if err == nil {
		a.acq.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: Challenge called without an error")
		http.Error(w, "Internal server error.", http.StatusInternalServerError)
		return
	}
	var ce *ChallengeError
	errors.As(err, &ce)
	var te *ThrottledError
	switch {
	case errors.Is(err, ErrInteractionRequired):
		var scopes []string
		var claims string
		if ce != nil {
			scopes, claims = ce.Scopes, ce.Claims
		}
		if _, isAPI := r.Context().Value(ctxBearer).(*bearer); isAPI {
			a.replyChallenge(w, r, scopes, claims)
			return
		}
		a.startSignIn(w, r, returnURL(r), scopes, claims)
	case errors.As(err, &te):
		secs := int(te.RetryAfter.Sub(a.acq.clock.Now()).Seconds()) + 1
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		http.Error(w, "Service temporarily unavailable.", http.StatusServiceUnavailable)
	case errors.Is(err, ErrConfig):
		a.acq.logger.LogAttrs(ctx, telemetry.LevelError, "identityweb: token acquisition is misconfigured", telemetry.Err(err))
		http.Error(w, "Internal server error.", http.StatusInternalServerError)
	default:
		a.acq.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: token acquisition failed", telemetry.Err(err))
		w.Header().Set("Retry-After", "5")
		http.Error(w, "Service temporarily unavailable.", http.StatusServiceUnavailable)
	}
}

// replyChallenge tells an API's caller what its user must do, as Identity
// Web's ReplyForbiddenWithWwwAuthenticateHeader: 401 insufficient_claims
// with the claims to pass to its next sign-in, or 403 for consent.
func (a *App) replyChallenge(w http.ResponseWriter, r *http.Request, scopes []string, claims string) {
	h := `Bearer clientId="` + a.cfg.ClientID + `"`
	if m, err := a.acq.endpoints.Metadata(r.Context()); err == nil {
		h += `, authorization_uri="` + m.Authorization + `"`
	}
	if claims != "" {
		h += `, error="insufficient_claims", claims="` + base64.StdEncoding.EncodeToString([]byte(claims)) + `"`
		w.Header().Set("WWW-Authenticate", h)
		writeAPIError(w, http.StatusUnauthorized, "insufficient_claims", "The user must satisfy a claims challenge.")
		return
	}
	h += `, error="interaction_required"`
	if len(scopes) > 0 {
		h += `, scope="` + strings.Join(scopes, " ") + `"`
	}
	w.Header().Set("WWW-Authenticate", h)
	writeAPIError(w, http.StatusForbidden, "interaction_required", "The user must consent or sign in again.")
}

func pkceChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func constantEqual(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
