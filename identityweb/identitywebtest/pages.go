package identitywebtest

import (
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/identityweb/go-identityweb/internal/jws"
)

var pages = template.Must(template.New("").Parse(`
{{define "head"}}<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · identityweb development identity provider</title>
<style>
body{font-family:system-ui,sans-serif;background:#f3f2f1;margin:0;color:#1b1b1b}
main{max-width:30rem;margin:3rem auto;background:#fff;padding:2rem 2.5rem;box-shadow:0 2px 6px #0003}
h1{font-size:1.5rem;font-weight:600;margin-top:0}.muted{color:#605e5c;font-size:.9rem}
button{font:inherit;padding:.5rem 1rem;border:1px solid #8a8886;background:#fff;cursor:pointer}
button.primary{background:#0067b8;color:#fff;border-color:#0067b8}
.user{display:block;width:100%;text-align:left;margin:.4rem 0}
input{font:inherit;padding:.4rem;width:100%;box-sizing:border-box;margin:.2rem 0 .6rem}
.error{color:#a80000;background:#fde7e9;padding:.6rem}code{overflow-wrap:break-word}
.scopes{padding-left:1.2rem}.scopes li{margin:.5rem 0}.scopes code{font-size:.8rem;color:#605e5c}
table{border-collapse:collapse}td,th{text-align:left;padding:.2rem .6rem .2rem 0;vertical-align:top}
</style></head><body><main>{{end}}
{{define "foot"}}<p class="muted">identityweb development identity provider — not for production.</p></main></body></html>{{end}}

{{define "signin"}}{{template "head" .}}
<h1>Sign in</h1>
<p class="muted">to <strong id="app-name">{{.App}}</strong>{{if .Tenant}} · {{.Tenant}}{{end}}</p>
{{if .Error}}<p class="error" id="signin-error">{{.Error}}</p>{{end}}
{{if .Users}}<p>Pick an account</p>
{{range .Users}}<form method="post" action="{{$.LoginURL}}"><input type="hidden" name="tx" value="{{$.TxID}}">
<input type="hidden" name="username" value="{{.Username}}">
<button class="user" type="submit" data-username="{{.Username}}">{{.Name}}<br><span class="muted">{{.Username}}</span></button></form>{{end}}
<p class="muted">or</p>{{end}}
<form method="post" action="{{.LoginURL}}"><input type="hidden" name="tx" value="{{.TxID}}">
<label>Username<input name="username" autocomplete="username" value="{{.LoginHint}}"></label>
<label>Password (if the account has one)<input name="password" type="password" autocomplete="current-password"></label>
<button class="primary" type="submit" id="signin-submit">Sign in</button></form>
{{template "foot" .}}{{end}}

{{define "consent"}}{{template "head" .}}
<h1>Permissions requested</h1>
<p><strong id="app-name">{{.App}}</strong> would like to:</p>
<ul id="consent-scopes" class="scopes">{{range .Scopes}}<li data-scope="{{.Full}}"><strong>{{.Name}}</strong>{{if .API}} <span class="muted">· {{.API}}</span>{{end}}
{{if .Prefix}}<br><code>{{.Prefix}}<wbr>{{.Name}}</code>{{end}}</li>{{end}}</ul>
<p class="muted">Signed in as {{.User}}</p>
<form method="post" action="{{.ConsentURL}}"><input type="hidden" name="tx" value="{{.TxID}}">
<button class="primary" type="submit" name="decision" value="accept" id="consent-accept">Accept</button>
<button type="submit" name="decision" value="cancel" id="consent-cancel">Cancel</button></form>
{{template "foot" .}}{{end}}

{{define "error"}}{{template "head" .}}
<h1>Sorry, but we're having trouble signing you in.</h1>
<p class="error" id="error-code">AADSTS{{.Code}}: {{.Description}}</p>
<p class="muted">Correlation ID: {{.CorrelationID}}</p>
{{template "foot" .}}{{end}}

{{define "signedout"}}{{template "head" .}}
<h1 id="signed-out">You signed out of your account</h1>
<p>It's a good idea to close all browser windows.</p>
{{template "foot" .}}{{end}}

{{define "formpost"}}<!doctype html><html><head><title>Working…</title></head>
<body onload="document.forms[0].submit()"><form method="post" action="{{.Action}}">
{{range $k, $v := .Params}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<noscript><button type="submit">Continue</button></noscript></form></body></html>{{end}}

{{define "index"}}{{template "head" .}}
<h1>Development identity provider</h1>
<p>An OpenID Provider that speaks Microsoft Entra ID's v2.0 protocol, for development and tests.</p>
{{range .Tenants}}<h2>{{.Name}}</h2>
<table><tr><th>Tenant id</th><td><code>{{.ID}}</code></td></tr>
<tr><th>Authority</th><td><code>{{$.Base}}/{{.ID}}/v2.0</code></td></tr>
<tr><th>Discovery</th><td><a href="{{$.Base}}/{{.ID}}/v2.0/.well-known/openid-configuration">openid-configuration</a></td></tr></table>
<h3>Apps</h3><table>{{range .Clients}}<tr><td>{{.Name}}</td><td><code>{{.ClientID}}</code></td></tr>{{end}}</table>
<h3>Users</h3><table>{{range .Users}}<tr><td>{{.Name}}</td><td><code>{{.Username}}</code></td></tr>{{end}}</table>
{{end}}{{template "foot" .}}{{end}}
`))

func render(w http.ResponseWriter, status int, name string, data any) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action *; script-src 'unsafe-inline'")
	w.WriteHeader(status)
	pages.ExecuteTemplate(w, name, data)
}

type pageUser struct{ Name, Username string }

func (p *Provider) signInPage(w http.ResponseWriter, rc *requestContext, tx *authTx, errText string) {
	var users []pageUser
	p.mu.Lock()
	for _, u := range p.users {
		if u.Password != "" {
			continue
		}
		if (tx.client.MultiTenant || u.tenant == tx.client.tenant) && (rc.tenant == nil || u.tenant == rc.tenant) {
			users = append(users, pageUser{u.Name, u.Username})
		}
	}
	p.mu.Unlock()
	sort.Slice(users, func(i, j int) bool { return users[i].Username < users[j].Username })
	tenant := ""
	if tx.client.tenant != nil {
		tenant = tx.client.tenant.Name
	}
	render(w, http.StatusOK, "signin", map[string]any{
		"Title": "Sign in", "App": tx.client.Name, "Tenant": tenant, "Users": users, "Error": errText,
		"TxID": tx.id, "LoginURL": "/" + url.PathEscape(tx.tenantSeg) + "/login", "LoginHint": tx.loginHint,
	})
}

// pageScope is a permission on the consent page: its name, the API that
// exposes it, and the full scope string; the page lets a long scope wrap
// after the resource's "/" rather than inside a word.
type pageScope struct{ Full, Prefix, Name, API string }

func newPageScope(res *clientState, name string) pageScope {
	full := fullScope(res, name)
	return pageScope{Full: full, Prefix: strings.TrimSuffix(full, name), Name: name, API: res.Name}
}

func (p *Provider) consentPage(w http.ResponseWriter, rc *requestContext, tx *authTx) {
	var scopes []pageScope
	for i, names := range p.missingConsent(tx) {
		for _, n := range names {
			scopes = append(scopes, newPageScope(tx.scopes.groups[i].res, n))
		}
	}
	if len(scopes) == 0 { // prompt=consent: show everything asked for
		for _, g := range tx.scopes.groups {
			for _, n := range g.names {
				scopes = append(scopes, newPageScope(g.res, n))
			}
		}
	}
	sort.Slice(scopes, func(i, j int) bool { return scopes[i].Full < scopes[j].Full })
	render(w, http.StatusOK, "consent", map[string]any{
		"Title": "Permissions requested", "App": tx.client.Name, "Scopes": scopes, "User": tx.user.Username,
		"TxID": tx.id, "ConsentURL": "/" + url.PathEscape(tx.tenantSeg) + "/consent",
	})
}

func (p *Provider) errorPage(w http.ResponseWriter, rc *requestContext, status int, e *oauthError) {
	rc.record.Error, rc.record.ErrorCode = e.code, e.aadsts
	render(w, status, "error", map[string]any{"Title": "Error", "Code": e.aadsts, "Description": e.desc, "CorrelationID": rc.correlationID})
}

func (p *Provider) signedOutPage(w http.ResponseWriter, rc *requestContext) {
	render(w, http.StatusOK, "signedout", map[string]any{"Title": "Signed out"})
}

func (p *Provider) formPostPage(w http.ResponseWriter, action string, params url.Values) {
	flat := map[string]string{}
	for k, v := range params {
		flat[k] = strings.Join(v, " ")
	}
	render(w, http.StatusOK, "formpost", map[string]any{"Action": action, "Params": flat})
}

func (p *Provider) serveIndex(w http.ResponseWriter, r *http.Request, rc *requestContext) {
	p.mu.Lock()
	seen := map[*tenantState]bool{}
	var tenants []*tenantState
	for _, t := range p.tenants {
		if !seen[t] {
			seen[t] = true
			tenants = append(tenants, t)
		}
	}
	p.mu.Unlock()
	sort.Slice(tenants, func(i, j int) bool { return tenants[i].ID < tenants[j].ID })
	render(w, http.StatusOK, "index", map[string]any{"Title": "Development identity provider", "Base": rc.base, "Tenants": tenants})
}

// hintAudience returns the audience of an ID token this provider signed, or "".
func (p *Provider) hintAudience(idToken string) string {
	tok, err := jws.Parse(idToken, jws.RS256)
	if err != nil {
		return ""
	}
	p.mu.Lock()
	keys := append([]*signingKey(nil), p.keys...)
	p.mu.Unlock()
	for _, k := range keys {
		if k.kid == tok.Header.Kid && tok.Verify(&k.key.PublicKey) == nil {
			var c struct {
				Aud string `json:"aud"`
			}
			if tok.Claims(&c) == nil {
				return c.Aud
			}
		}
	}
	return ""
}
