package identitywebtest

import (
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

const maxPageForm = 64 << 10

// serveAuthorize handles the authorization endpoint: it validates the
// request, then signs the user in (page, single sign-on, or AutoSignIn).
func (p *Provider) serveAuthorize(w http.ResponseWriter, r *http.Request, rc *requestContext) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxPageForm)
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, rc, http.StatusBadRequest, invalidRequest(CodeMalformedRequest, "Malformed or invalid request."))
		return
	}
	q := r.Form
	clientID := q.Get("client_id")
	rc.record.ClientID, rc.record.Scope = truncate(clientID, 64), truncate(q.Get("scope"), 512)
	p.mu.Lock()
	client := p.clients[clientID]
	p.mu.Unlock()
	if client == nil {
		p.errorPage(w, rc, http.StatusBadRequest, newErr(400, "unauthorized_client", CodeUnknownClient, "Application with identifier '%s' was not found in the directory '%s'.", truncate(clientID, 64), truncate(rc.tenantSeg, 64)))
		return
	}
	if rc.tenant != nil && client.tenant != rc.tenant && !client.MultiTenant {
		p.errorPage(w, rc, http.StatusBadRequest, newErr(400, "unauthorized_client", CodeUnknownClient, "Application with identifier '%s' was not found in the directory '%s'.", clientID, rc.tenant.ID))
		return
	}
	redirectURI := q.Get("redirect_uri")
	if redirectURI == "" && len(client.RedirectURIs) == 1 {
		redirectURI = client.RedirectURIs[0]
	}
	if !client.redirectAllowed(redirectURI) {
		p.errorPage(w, rc, http.StatusBadRequest, invalidRequest(CodeRedirectMismatch, "The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'.", truncate(redirectURI, 256), clientID))
		return
	}
	tx := &authTx{
		id: randomToken("tx."), tenantSeg: rc.tenantSeg, client: client, redirectURI: redirectURI,
		responseMode: q.Get("response_mode"), state: q.Get("state"), nonce: q.Get("nonce"),
		challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method"),
		prompt: q.Get("prompt"), loginHint: q.Get("login_hint"), clientInfo: q.Get("client_info") == "1",
		expires: rc.now.Add(15 * time.Minute),
	}
	if tx.responseMode == "" {
		tx.responseMode = "query"
	}
	if e := p.validateAuthorize(tx, q); e != nil {
		if !slices.Contains([]string{"query", "fragment", "form_post"}, tx.responseMode) {
			tx.responseMode = "query"
		}
		p.redirectError(w, r, rc, tx, e)
		return
	}
	p.startSignIn(w, r, rc, tx)
}

func (p *Provider) validateAuthorize(tx *authTx, q url.Values) *oauthError {
	if q.Get("response_type") != "code" {
		return newErr(400, "unsupported_response_type", CodeUnsupportedResponseType, "The provided value for the input parameter 'response_type' is not allowed for this request. Expected value: 'code'.")
	}
	if !slices.Contains([]string{"query", "fragment", "form_post"}, tx.responseMode) {
		return invalidRequest(CodeMalformedRequest, "The provided value for the input parameter 'response_mode' is not valid.")
	}
	if tx.challenge == "" && p.opts.RequirePKCE {
		return invalidRequest(CodeInvalidRequest, "Proof Key for Code Exchange is required: the request must contain 'code_challenge'.")
	}
	if tx.challenge != "" {
		if tx.method == "" {
			tx.method = "plain"
		}
		if (tx.method != "S256" && tx.method != "plain") || len(tx.challenge) < 43 || len(tx.challenge) > 128 {
			return invalidRequest(CodeMalformedRequest, "The code_challenge or code_challenge_method is not valid.")
		}
	}
	if !slices.Contains([]string{"", "none", "login", "select_account", "consent"}, tx.prompt) {
		return invalidRequest(CodeMalformedRequest, "The provided value for the input parameter 'prompt' is not valid.")
	}
	scopes, e := p.parseScopes(q.Get("scope"))
	if e != nil {
		return e
	}
	if len(scopes.oidc) == 0 && len(scopes.groups) == 0 {
		return invalidRequest(CodeInvalidRequest, "The request must contain a 'scope' parameter.")
	}
	tx.scopes = scopes
	if tx.claims, e = parseClaims(q.Get("claims")); e != nil {
		return e
	}
	return nil
}

// redirectAllowed reports whether uri is a registered reply URL of c.
func (c *Client) redirectAllowed(uri string) bool {
	if uri == "" {
		return false
	}
	if slices.Contains(c.RedirectURIs, uri) {
		return true
	}
	if !c.AllowLoopbackRedirects {
		return false
	}
	u, err := url.Parse(uri)
	if err != nil || u.Fragment != "" || u.User != nil || !isLoopback(u.Hostname()) {
		return false
	}
	for _, reg := range c.RedirectURIs {
		ru, err := url.Parse(reg)
		if err == nil && isLoopback(ru.Hostname()) && ru.Path == u.Path && (u.Scheme == "http" || u.Scheme == "https") {
			return true
		}
	}
	return false
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// startSignIn signs the user in silently when it can, or shows the page.
func (p *Provider) startSignIn(w http.ResponseWriter, r *http.Request, rc *requestContext, tx *authTx) {
	sess := p.sessionFor(r, rc)
	p.mu.Lock()
	auto := p.users[strings.ToLower(p.autoUser)]
	p.mu.Unlock()
	switch {
	case tx.prompt == "none":
		if sess == nil {
			p.redirectError(w, r, rc, tx, newErr(400, "login_required", CodeLoginRequired, "Due to a configuration change made by your administrator, or because you moved to a new location, you must sign in: there is no session and prompt=none was asked for."))
			return
		}
		tx.user = sess.user
		if len(unsatisfied(tx.claims.acrs, sess.acrs)) > 0 {
			p.redirectError(w, r, rc, tx, interactionRequired(""))
			return
		}
		if len(p.missingConsent(tx)) > 0 {
			e := consentRequired(tx.client.ClientID, tx.client.Name)
			e.code = "consent_required"
			p.redirectError(w, r, rc, tx, e)
			return
		}
		p.complete(w, r, rc, tx)
	case auto != nil:
		tx.user = auto
		p.grantMissing(tx)
		p.complete(w, r, rc, tx)
	case sess != nil && tx.prompt != "login" && tx.prompt != "select_account" && (rc.tenant == nil || sess.user.tenant == rc.tenant) &&
		(tx.client.MultiTenant || sess.user.tenant == tx.client.tenant):
		// Single sign-on, as Entra: the signed-in user goes straight on, to
		// the consent page when something new is asked for.
		tx.user = sess.user
		if len(p.missingConsent(tx)) > 0 || tx.prompt == "consent" || len(unsatisfied(tx.claims.acrs, sess.acrs)) > 0 {
			p.mu.Lock()
			p.sweepLocked(rc.now)
			p.txs[tx.id] = tx
			p.mu.Unlock()
			if len(unsatisfied(tx.claims.acrs, sess.acrs)) > 0 {
				p.signInPage(w, rc, tx, "") // step-up: sign in again
				return
			}
			p.consentPage(w, rc, tx)
			return
		}
		p.complete(w, r, rc, tx)
	default:
		p.mu.Lock()
		p.sweepLocked(rc.now)
		p.txs[tx.id] = tx
		p.mu.Unlock()
		p.signInPage(w, rc, tx, "")
	}
}

// missingConsent lists, per resource, the scopes the user must still consent to.
func (p *Provider) missingConsent(tx *authTx) map[int][]string {
	out := map[int][]string{}
	for i := range tx.scopes.groups {
		_, missing := p.delegated(tx.user, tx.client, &tx.scopes.groups[i])
		if len(missing) > 0 {
			out[i] = missing
		}
	}
	return out
}

func (p *Provider) grantMissing(tx *authTx) {
	for i, names := range p.missingConsent(tx) {
		p.recordConsent(tx.user, tx.client, &tx.scopes.groups[i], names)
	}
}

// serveLogin takes the sign-in page's form.
func (p *Provider) serveLogin(w http.ResponseWriter, r *http.Request, rc *requestContext) {
	tx, ok := p.pageTx(w, r, rc)
	if !ok {
		return
	}
	p.mu.Lock()
	user := p.users[strings.ToLower(strings.TrimSpace(r.PostForm.Get("username")))]
	p.mu.Unlock()
	if user == nil || (user.Password != "" && r.PostForm.Get("password") != user.Password) {
		p.signInPage(w, rc, tx, "AADSTS50126: Error validating credentials due to invalid username or password.")
		return
	}
	if !tx.client.MultiTenant && user.tenant != tx.client.tenant || rc.tenant != nil && user.tenant != rc.tenant {
		p.signInPage(w, rc, tx, "AADSTS50020: User account '"+user.Username+"' does not exist in the application's tenant.")
		return
	}
	tx.user = user
	if len(p.missingConsent(tx)) > 0 || tx.prompt == "consent" {
		p.consentPage(w, rc, tx)
		return
	}
	p.complete(w, r, rc, tx)
}

// serveConsent takes the consent page's answer.
func (p *Provider) serveConsent(w http.ResponseWriter, r *http.Request, rc *requestContext) {
	tx, ok := p.pageTx(w, r, rc)
	if !ok {
		return
	}
	if tx.user == nil {
		p.errorPage(w, rc, http.StatusBadRequest, invalidRequest(CodeMalformedRequest, "Sign in before consenting."))
		return
	}
	if r.PostForm.Get("decision") != "accept" {
		p.forgetTx(tx)
		p.redirectError(w, r, rc, tx, newErr(400, "access_denied", CodeConsentDeclined, "The user or administrator has not consented to use the application with ID '%s' named '%s'. The user declined to consent.", tx.client.ClientID, tx.client.Name))
		return
	}
	p.grantMissing(tx)
	p.complete(w, r, rc, tx)
}

// pageTx reads the transaction a sign-in or consent form posts back.
func (p *Provider) pageTx(w http.ResponseWriter, r *http.Request, rc *requestContext) (*authTx, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return nil, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxPageForm)
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, rc, http.StatusBadRequest, invalidRequest(CodeMalformedRequest, "Malformed or invalid request."))
		return nil, false
	}
	p.mu.Lock()
	tx := p.txs[r.PostForm.Get("tx")]
	p.mu.Unlock()
	if tx == nil || rc.now.After(tx.expires) || tx.tenantSeg != rc.tenantSeg {
		p.errorPage(w, rc, http.StatusBadRequest, invalidRequest(CodeMalformedRequest, "This sign-in request has expired or is not valid. Go back to the application and sign in again."))
		return nil, false
	}
	rc.record.ClientID = tx.client.ClientID
	return tx, true
}

func (p *Provider) forgetTx(tx *authTx) {
	p.mu.Lock()
	delete(p.txs, tx.id)
	p.mu.Unlock()
}

// complete issues the code and sends the browser back to the app.
func (p *Provider) complete(w http.ResponseWriter, r *http.Request, rc *requestContext, tx *authTx) {
	p.forgetTx(tx)
	sess := p.sessionFor(r, rc)
	if sess == nil || sess.user != tx.user {
		sess = &idpSession{user: tx.user, authTime: rc.now, id: randomID(), clients: map[string]bool{}}
	}
	for _, a := range tx.claims.acrs { // signing in here satisfies what was asked
		if !slices.Contains(sess.acrs, a) {
			sess.acrs = append(sess.acrs, a)
		}
	}
	sess.expires = rc.now.Add(24 * time.Hour)
	sid := randomToken("s.")
	code := randomToken("code.")
	p.mu.Lock()
	p.sessions[sid] = sess
	sess.clients[tx.client.ClientID] = true
	p.codes[code] = &authCode{sid: sess.id,
		client: tx.client, redirectURI: tx.redirectURI, user: tx.user, tenantID: tx.user.tenant.ID,
		scopes: tx.scopes, nonce: tx.nonce, challenge: tx.challenge, method: tx.method,
		acrs: tx.claims.acrs, xmsCC: tx.claims.xmsCC, authTime: sess.authTime,
		expires: rc.now.Add(p.opts.CodeLifetime), clientInfo: tx.clientInfo,
	}
	p.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: idpSessionCookie, Value: sid, Path: "/", HttpOnly: true,
		Secure: strings.HasPrefix(rc.base, "https:"), SameSite: http.SameSiteLaxMode})
	params := url.Values{"code": {code}}
	if tx.state != "" {
		params.Set("state", tx.state)
	}
	if tx.clientInfo {
		params.Set("client_info", clientInfo(tx.user))
	}
	p.respond(w, r, tx, params)
}

func clientInfo(u *userState) string {
	return b64url([]byte(`{"uid":"` + u.ObjectID + `","utid":"` + u.tenant.ID + `"}`))
}

// redirectError returns an error to the app's reply URL.
func (p *Provider) redirectError(w http.ResponseWriter, r *http.Request, rc *requestContext, tx *authTx, e *oauthError) {
	rc.record.Error, rc.record.ErrorCode = e.code, e.aadsts
	b := e.body(rc)
	params := url.Values{"error": {b.Error}, "error_description": {b.ErrorDescription}, "error_uri": {b.ErrorURI}}
	if tx.state != "" {
		params.Set("state", tx.state)
	}
	if e.suberror != "" {
		params.Set("error_subcode", e.suberror)
	}
	p.respond(w, r, tx, params)
}

// respond delivers params to the reply URL by the request's response_mode.
func (p *Provider) respond(w http.ResponseWriter, r *http.Request, tx *authTx, params url.Values) {
	switch tx.responseMode {
	case "form_post":
		p.formPostPage(w, tx.redirectURI, params)
	case "fragment":
		http.Redirect(w, r, tx.redirectURI+"#"+params.Encode(), http.StatusFound)
	default:
		u, _ := url.Parse(tx.redirectURI)
		q := u.Query()
		for k, v := range params {
			q[k] = v
		}
		u.RawQuery = q.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	}
}

func (p *Provider) sessionFor(r *http.Request, rc *requestContext) *idpSession {
	c, err := r.Cookie(idpSessionCookie)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sessions[c.Value]
	if s == nil || rc.now.After(s.expires) {
		return nil
	}
	return s
}

// serveLogout ends the provider's session and returns the browser to the
// app's post_logout_redirect_uri when that is registered.
func (p *Provider) serveLogout(w http.ResponseWriter, r *http.Request, rc *requestContext) {
	r.Body = http.MaxBytesReader(w, r.Body, maxPageForm)
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, rc, http.StatusBadRequest, invalidRequest(CodeMalformedRequest, "Malformed or invalid request."))
		return
	}
	var ended *idpSession
	if c, err := r.Cookie(idpSessionCookie); err == nil {
		p.mu.Lock()
		ended = p.sessions[c.Value]
		p.endSession(ended)
		p.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: idpSessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	if frames := p.frontChannelURLs(rc, ended); len(frames) > 0 {
		p.frontChannelPage(w, rc, frames, p.postLogoutTarget(r))
		return
	}
	if target := p.postLogoutTarget(r); target != "" {
		http.Redirect(w, r, target, http.StatusFound)
		return
	}
	p.signedOutPage(w, rc)
}

// postLogoutTarget is where the browser goes after sign-out: the
// post_logout_redirect_uri with state when it is allowed, else "".
func (p *Provider) postLogoutTarget(r *http.Request) string {
	target := r.Form.Get("post_logout_redirect_uri")
	if target == "" || !p.postLogoutAllowed(r.Form, target) {
		return ""
	}
	u, _ := url.Parse(target)
	if st := r.Form.Get("state"); st != "" {
		q := u.Query()
		q.Set("state", st)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// postLogoutAllowed checks target against the app named by client_id or by
// the id_token_hint's audience: its PostLogoutRedirectURIs, or when it has
// none, any URL on the origin of one of its reply URLs.
func (p *Provider) postLogoutAllowed(form url.Values, target string) bool {
	clientID := form.Get("client_id")
	if clientID == "" {
		clientID = p.hintAudience(form.Get("id_token_hint"))
	}
	p.mu.Lock()
	c := p.clients[clientID]
	p.mu.Unlock()
	if c == nil {
		return false
	}
	if slices.Contains(c.PostLogoutRedirectURIs, target) {
		return true
	}
	if len(c.PostLogoutRedirectURIs) > 0 {
		return false
	}
	u, err := url.Parse(target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return false
	}
	for _, reg := range c.RedirectURIs {
		ru, err := url.Parse(reg)
		if err != nil {
			continue
		}
		if ru.Scheme == u.Scheme && ru.Host == u.Host {
			return true
		}
		if c.AllowLoopbackRedirects && isLoopback(ru.Hostname()) && isLoopback(u.Hostname()) {
			return true
		}
	}
	return false
}
