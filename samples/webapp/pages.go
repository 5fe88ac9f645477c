package main

import (
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/identityweb/go-identityweb/identityweb"
)

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	// cost says what an acquisition cost. An L1 hit is not timed (it takes
	// a few hundred nanoseconds; Metadata's durations are zero by design),
	// which the page says rather than showing zeros that read as "not
	// measured".
	"cost": func(m identityweb.Metadata) string {
		if m.CacheLevel == identityweb.CacheLevelL1 && m.DurationTotal == 0 {
			return "L1 cache hit: sub-microsecond, not timed"
		}
		round := func(d time.Duration) string {
			if d < time.Millisecond {
				return d.Round(100 * time.Nanosecond).String()
			}
			return d.Round(10 * time.Microsecond).String()
		}
		http := "no HTTP call"
		if m.DurationInHTTP > 0 {
			http = round(m.DurationInHTTP) + " in HTTP"
		}
		return round(m.DurationTotal) + " in all · " + round(m.DurationInCache) + " in the cache · " + http
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.Local().Format("Mon 2 Jan 2006, 15:04:05 MST")
	},
	// scope lets a long scope wrap after its API's "/" rather than inside
	// the API's id.
	"scope": func(scope string) template.HTML {
		i := strings.LastIndex(scope, "/") + 1
		return template.HTML(template.HTMLEscapeString(scope[:i]) + "<wbr>" + template.HTMLEscapeString(scope[i:]))
	},
	"fromL1": func(m identityweb.Metadata) bool {
		return m.Source == identityweb.SourceCache && m.CacheLevel == identityweb.CacheLevelL1
	},
}).Parse(`
{{define "layout"}}<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>identityweb sample</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1b1b1b;line-height:1.45}
header{background:#1f3a5f;color:#fff;padding:.8rem 1.5rem;display:flex;justify-content:space-between;align-items:center}
header a{color:#fff}main{max-width:46rem;margin:2rem auto;background:#fff;padding:1.5rem 2rem;box-shadow:0 1px 4px #0002}
nav{margin-bottom:1rem}nav a{margin-right:1rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border-bottom:1px solid #ddd;padding:.3rem .8rem .3rem 0;text-align:left;vertical-align:top}
.metadata{width:100%;table-layout:fixed}.metadata th{width:12rem;white-space:nowrap}td{overflow-wrap:break-word}
button,.button{font:inherit;padding:.35rem .9rem;cursor:pointer;border:1px solid #1f3a5f;background:#1f3a5f;color:#fff;border-radius:3px;text-decoration:none;display:inline-block}
header button{background:#fff;color:#1f3a5f}
input[type=text]{font:inherit;padding:.3rem .5rem;width:20rem;max-width:60%}
.note{color:#555;font-size:.9rem}.ok{color:#0a6b2d}.notice{background:#eef5ee;border-left:4px solid #0a6b2d;padding:.5rem .8rem}
.problem{background:#fdf1ef;border-left:4px solid #a4262c;padding:.5rem .8rem}
h2{font-size:1.15rem;margin-top:1.5rem}
</style></head><body>
<header><strong>identityweb sample</strong>
{{if .User}}<span>Signed in as <strong id="user-name">{{.User.Name}}</strong>
<form method="post" action="/signout" style="display:inline;margin-left:1rem"><input type="hidden" name="csrf" value="{{.CSRF}}"><button id="sign-out">Sign out</button></form></span>
{{else}}<a id="sign-in" href="/signin?returnUrl=/me">Sign in</a>{{end}}</header>
<main>{{if .User}}<nav><a href="/">Home</a><a id="nav-me" href="/me">Profile</a><a id="nav-todos" href="/todos">Todos</a></nav>{{end}}
{{template "body" .}}</main></body></html>{{end}}

{{define "metadata"}}<h2>{{.Title}}</h2><table class="metadata">
<tr><th>Scope</th><td class="md-scope">{{scope .Scope}}</td></tr>
<tr><th>Source</th><td class="md-source">{{.R.Metadata.Source}}</td></tr>
<tr><th>Cache level</th><td class="md-level">{{.R.Metadata.CacheLevel}}</td></tr>
<tr><th>Refresh reason</th><td>{{.R.Metadata.RefreshReason}}</td></tr>
<tr><th>Cost</th><td class="md-cost">{{cost .R.Metadata}}</td></tr>
<tr><th>Expires</th><td class="md-expires">{{when .R.ExpiresOn}}</td></tr>
<tr><th>Background refresh</th><td>{{if .R.RefreshOn.IsZero}}none planned: renewed as it nears expiry{{else}}from {{when .R.RefreshOn}}{{end}}</td></tr></table>{{end}}
`))

var bodies = map[string]string{
	"home": `{{define "body"}}<h1>Sign in with OpenID Connect</h1>
{{if .SignedOut}}<p class="notice" id="signed-out">You are signed out. Your tokens were removed from this app's cache.</p>{{end}}
<p>This app signs you in through {{.Provider}}, then calls a protected Todo API as you. Every token acquisition shows where the token came from (cache or identity provider) and what it cost.</p>
{{if .User}}<p class="ok" id="signed-in">You are signed in. Go to your <a href="/me">profile</a> or your <a href="/todos">todos</a>.</p>
{{else}}<p><a class="button" id="sign-in-button" href="/signin?returnUrl=/me">Sign in</a></p>{{end}}{{end}}`,

	"me": `{{define "body"}}<h1 id="greeting">Hello, {{.User.Name}}</h1>
<table><tr><th>Username</th><td id="username">{{.User.Username}}</td></tr><tr><th>Object id</th><td>{{.User.ObjectID}}</td></tr><tr><th>Tenant id</th><td>{{.User.TenantID}}</td></tr></table>
{{template "metadata" .Token}}
{{if not (fromL1 .Token.R.Metadata)}}<p class="note" id="reload-hint">Reload the page: the token will come from the in-memory (L1) cache.</p>{{end}}{{end}}`,

	"todos": `{{define "body"}}<h1>Your todos</h1>
{{if .Granted}}<p class="notice" id="write-granted">You allowed this app to add todos (Todo.ReadWrite).</p>{{end}}
<p class="note">The Todo API answered (called with your token):</p>
<ul id="todos">{{range .Todos}}<li>{{.}}</li>{{else}}<li>No todos yet.</li>{{end}}</ul>
{{if .WriteToken}}<form method="post" action="/todos/write" id="todo-form"><input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="todo-text">New todo</label> <input type="text" name="text" id="todo-text" placeholder="What needs doing?" required maxlength="200" autocomplete="off">
<button id="todo-add">Add</button></form>
{{else}}<p><a class="button" id="allow-write" href="/todos/write">Add todos</a>
<span class="note" id="write-consent-note">asks you for one more permission (Todo.ReadWrite) first</span></p>{{end}}
{{template "metadata" .Token}}{{with .WriteToken}}{{template "metadata" .}}{{end}}{{end}}`,

	"error": `{{define "body"}}<h1 id="error-title">{{.Error.Message}}</h1>
<div class="problem"><p id="error-detail">{{if eq .Error.Status 403}}Nothing was granted.{{else}}The sign-in did not complete.{{end}}
{{if .User}}You are still signed in as {{.User.Name}}, with the permissions you had before.{{else}}You are not signed in.{{end}}</p></div>
{{if .User}}<p><a class="button" id="error-back" href="/todos">Back to your todos</a> <a href="/me">or to your profile</a></p>
{{else}}<p><a class="button" id="error-back" href="/signin?returnUrl=/me">Sign in again</a> <a href="/">or go to the home page</a></p>{{end}}
<p class="note">HTTP status {{.Error.Status}}.</p>{{end}}`,
}

var views = map[string]*template.Template{}

func init() {
	for name, body := range bodies {
		views[name] = template.Must(template.Must(pages.Clone()).Parse(body))
	}
}

type tokenView struct {
	Title string
	Scope string
	R     identityweb.Result
}

type errorView struct {
	Status  int
	Message string
}

type pageData struct {
	User       *identityweb.Account
	CSRF       string
	Provider   string
	SignedOut  bool
	Token      *tokenView
	WriteToken *tokenView
	Granted    bool
	Todos      []string
	Error      *errorView
}

func render(w http.ResponseWriter, name string, d pageData) { renderStatus(w, http.StatusOK, name, d) }

func renderStatus(w http.ResponseWriter, status int, name string, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	views[name].ExecuteTemplate(w, "layout", d)
}
