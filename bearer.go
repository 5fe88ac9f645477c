package identityweb

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
)

// Policy authorizes a validated token; a non-nil error means 403.
type Policy func(*Claims) error

type policyError struct{ scope string }

func (e *policyError) Error() string { return "identityweb: insufficient scope or role" }

// RequireScopes accepts user tokens carrying any of scopes in "scp" (Identity
// Web's VerifyUserHasAnyAcceptedScope).
func RequireScopes(scopes ...string) Policy {
	return func(c *Claims) error {
		for _, s := range scopes {
			if slices.Contains(c.Scopes, s) {
				return nil
			}
		}
		return &policyError{strings.Join(scopes, " ")}
	}
}

// RequireRoles accepts tokens carrying any of roles in "roles" (app
// permissions for app tokens, app roles for users).
func RequireRoles(roles ...string) Policy {
	return func(c *Claims) error {
		for _, r := range roles {
			if slices.Contains(c.Roles, r) {
				return nil
			}
		}
		return &policyError{strings.Join(roles, " ")}
	}
}

// RequireScopesOrRoles accepts user tokens with any of scopes or app tokens
// with any of roles (Identity Web's RequiredScopeOrAppPermission).
func RequireScopesOrRoles(scopes, roles []string) Policy {
	s, r := RequireScopes(scopes...), RequireRoles(roles...)
	return func(c *Claims) error {
		if s(c) == nil || r(c) == nil {
			return nil
		}
		return &policyError{strings.Join(append(append([]string{}, scopes...), roles...), " ")}
	}
}

// RequireBearer validates the request's bearer token — signature (RS256 or
// PS256 only), issuer (multi-tenant: tid checked against iss), audience
// (Config.Audiences), exp/nbf with 5 minutes of skew — and applies every
// policy. Failures answer 401 with WWW-Authenticate error="invalid_token"
// or 403 error="insufficient_scope", with messages safe for clients.
// Validated tokens are cached until their exp (Options.ValidatedTokenCache).
func (a *App) RequireBearer(policies ...Policy) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, ok := bearerToken(r)
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="identityweb"`)
				writeAPIError(w, http.StatusUnauthorized, "invalid_request", "A bearer token is required.")
				return
			}
			ctx := r.Context()
			claims, err := a.accessTokens.validate(ctx, raw)
			if err != nil {
				if !errors.Is(err, ErrInvalidToken) {
					a.acq.logger.LogAttrs(ctx, levelWarn, "identityweb: cannot validate bearer tokens now", errAttr(err))
					writeAPIError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Try again shortly.")
					return
				}
				a.acq.logger.LogAttrs(ctx, levelDebug, "identityweb: bearer token refused", errAttr(err))
				w.Header().Set("WWW-Authenticate", `Bearer realm="identityweb", error="invalid_token", error_description="The access token is missing or not valid."`)
				writeAPIError(w, http.StatusUnauthorized, "invalid_token", "The access token is missing or not valid.")
				return
			}
			for _, p := range policies {
				if err := p(claims); err != nil {
					var pe *policyError
					scope := ""
					if errors.As(err, &pe) {
						scope = `, scope="` + pe.scope + `"`
					}
					w.Header().Set("WWW-Authenticate", `Bearer realm="identityweb", error="insufficient_scope"`+scope)
					writeAPIError(w, http.StatusForbidden, "insufficient_scope", "The access token does not grant this operation.")
					return
				}
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, ctxBearer, &bearer{raw: raw, claims: claims})))
		})
	}
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 8 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	t := strings.TrimSpace(h[7:])
	return t, t != "" && len(t) < 16<<10
}
