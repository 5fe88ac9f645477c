package identitywebtest

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// Grant types beyond RFC 6749's.
const (
	GrantJWTBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// maxFormBytes bounds a token request body.
const maxFormBytes = 1 << 20

// audience is a JWT "aud": one string or an array of them.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// singleValued parameters may appear at most once in a token request.
var singleValued = []string{
	"grant_type", "client_id", "client_secret", "client_assertion", "client_assertion_type",
	"code", "code_verifier", "redirect_uri", "refresh_token", "scope", "assertion",
	"requested_token_use", "subject_token", "subject_token_type", "claims", "username", "password",
}

func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request, rc *requestContext) {
	if r.Method != http.MethodPost {
		p.writeOAuthError(w, rc, invalidRequest(CodePostOnly, "The endpoint only accepts POST requests. Received a %s request.", r.Method))
		return
	}
	form, e := readForm(w, r)
	if form != nil {
		rc.record.GrantType = truncate(form.Get("grant_type"), 80)
		rc.record.ClientID = truncate(form.Get("client_id"), 64)
		rc.record.Scope = truncate(form.Get("scope"), 512)
	}
	if fault, latency := p.takeFault(); fault != nil || latency > 0 {
		sleepCtx(r.Context(), latency)
		if fault != nil {
			p.writeFault(w, rc, fault)
			return
		}
	}
	if e != nil {
		p.writeOAuthError(w, rc, e)
		return
	}
	var resp *tokenResponse
	switch gt := form.Get("grant_type"); gt {
	case "authorization_code":
		resp, e = p.grantAuthCode(rc, r, form)
	case "refresh_token":
		resp, e = p.grantRefresh(rc, r, form)
	case "client_credentials":
		resp, e = p.grantClientCredentials(rc, r, form)
	case GrantJWTBearer:
		resp, e = p.grantOnBehalfOf(rc, r, form, false)
	case GrantTokenExchange:
		resp, e = p.grantOnBehalfOf(rc, r, form, true)
	case "password":
		if !p.opts.DevelopmentPasswordGrant {
			e = unsupportedGrant()
			break
		}
		resp, e = p.grantPassword(rc, r, form)
	case "":
		e = invalidRequest(CodeInvalidRequest, "The request body must contain the following parameter: 'grant_type'.")
	default:
		e = unsupportedGrant()
	}
	if e != nil {
		p.writeOAuthError(w, rc, e)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func unsupportedGrant() *oauthError {
	return newErr(http.StatusBadRequest, "unsupported_grant_type", CodeUnsupportedGrant, "The provided value for the input parameter 'grant_type' is not valid. Expected values are the following: 'authorization_code', 'refresh_token', 'client_credentials', '%s', '%s'.", GrantJWTBearer, GrantTokenExchange)
}

// readForm reads an application/x-www-form-urlencoded body. Parameters in
// the URL are ignored: credentials never travel there.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, *oauthError) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		return nil, invalidRequest(CodeMalformedRequest, "The request body must be application/x-www-form-urlencoded.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, invalidRequest(CodeMalformedRequest, "Malformed or invalid request body.")
	}
	form := r.PostForm
	for _, k := range singleValued {
		if len(form[k]) > 1 {
			return form, invalidRequest(CodeMalformedRequest, "The parameter '%s' is duplicated.", k)
		}
	}
	return form, nil
}

func (p *Provider) grantClientCredentials(rc *requestContext, r *http.Request, form url.Values) (*tokenResponse, *oauthError) {
	client, azpacr, e := p.authenticateClient(rc, r, form)
	if e != nil {
		return nil, e
	}
	if rc.tenant == nil {
		return nil, invalidRequest(CodeTenantRequired, "No tenant-identifying information found in either the request or implied by any provided credentials: client credentials need a tenant-specific endpoint.")
	}
	if client.tenant != rc.tenant && !client.MultiTenant {
		return nil, newErr(http.StatusBadRequest, "unauthorized_client", CodeUnknownClient, "Application with identifier '%s' was not found in the directory '%s'.", client.ClientID, rc.tenant.ID)
	}
	if client.PublicClient {
		return nil, invalidClient(CodeCredentialRequired, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
	var fields []string // OIDC scopes are ignored here, as Entra does (MSAL always adds them)
	for _, f := range strings.Fields(form.Get("scope")) {
		if !oidcScopes[f] {
			fields = append(fields, f)
		}
	}
	if len(fields) != 1 || !strings.HasSuffix(fields[0], "/.default") {
		return nil, invalidScope(CodeDefaultScopeRequired, "The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", truncate(form.Get("scope"), 256))
	}
	rs, e := p.parseScopes(fields[0])
	if e != nil {
		return nil, e
	}
	g, _ := rs.single()
	var roles []string
	if perm := client.permissionFor(g.res); perm != nil {
		for _, role := range perm.Roles {
			if containsStr(g.res.AppRoles, role) {
				roles = append(roles, role)
			}
		}
	}
	cr, e := parseClaims(form.Get("claims"))
	if e != nil {
		return nil, e
	}
	return p.issue(rc, &grant{client: client, azpacr: azpacr, tenantID: rc.tenant.ID, res: g.res, roles: roles, xmsCC: cr.xmsCC})
}
