package main

import (
	"html/template"
	"net/http"
	"time"

	"github.com/identityweb/go-identityweb/identityweb"
)

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"dur": func(d time.Duration) string { return d.Round(10 * time.Microsecond).String() },
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.Local().Format("15:04:05")
	},
}).Parse(`
{{define "layout"}}<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>identityweb sample</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1b1b1b}
header{background:#1f3a5f;color:#fff;padding:.8rem 1.5rem;display:flex;justify-content:space-between;align-items:center}
header a{color:#fff}main{max-width:46rem;margin:2rem auto;background:#fff;padding:1.5rem 2rem;box-shadow:0 1px 4px #0002}
nav a{margin-right:1rem}table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border-bottom:1px solid #ddd;padding:.3rem .8rem .3rem 0;text-align:left}
button{font:inherit;padding:.35rem .9rem;cursor:pointer}.note{color:#555;font-size:.9rem}.ok{color:#0a6b2d}
</style></head><body>
<header><strong>identityweb sample</strong>
{{if .User}}<span>Signed in as <strong id="user-name">{{.User.Name}}</strong>
<form method="post" action="/signout" style="display:inline;margin-left:1rem"><input type="hidden" name="csrf" value="{{.CSRF}}"><button id="sign-out">Sign out</button></form></span>
{{else}}<a id="sign-in" href="/signin?returnUrl=/me">Sign in</a>{{end}}</header>
<main>{{if .User}}<nav><a href="/me">Profile</a><a id="nav-todos" href="/todos">Todos</a><a id="nav-write" href="/todos/write">Add a todo</a></nav>{{end}}
{{template "body" .}}</main></body></html>{{end}}

{{define "metadata"}}<table class="metadata" id="token-metadata">
<tr><th>Token for</th><td>{{.Scope}}</td></tr>
<tr><th>Source</th><td id="md-source">{{.R.Metadata.Source}}</td></tr>
<tr><th>Cache level</th><td id="md-level">{{.R.Metadata.CacheLevel}}</td></tr>
<tr><th>Refresh reason</th><td>{{.R.Metadata.RefreshReason}}</td></tr>
<tr><th>Total / in cache / in HTTP</th><td>{{dur .R.Metadata.DurationTotal}} / {{dur .R.Metadata.DurationInCache}} / {{dur .R.Metadata.DurationInHTTP}}</td></tr>
<tr><th>Expires on / refresh on</th><td>{{when .R.ExpiresOn}} / {{when .R.RefreshOn}}</td></tr></table>{{end}}
`))

var bodies = map[string]string{
	"home": `{{define "body"}}<h1>Sign in with OpenID Connect</h1>
<p>This app signs you in through {{.Provider}}, then calls a protected Todo API as you. Every token acquisition shows where the token came from (cache or identity provider) and what it cost.</p>
{{if .User}}<p class="ok">You are signed in. Go to your <a href="/me">profile</a>.</p>{{else}}<p><a href="/signin?returnUrl=/me"><button id="sign-in-button">Sign in</button></a></p>{{end}}{{end}}`,
	"me": `{{define "body"}}<h1 id="greeting">Hello, {{.User.Name}}</h1>
<table><tr><th>Username</th><td id="username">{{.User.Username}}</td></tr><tr><th>Object id</th><td>{{.User.ObjectID}}</td></tr><tr><th>Tenant id</th><td>{{.User.TenantID}}</td></tr></table>
<h2>Token for the Todo API</h2>{{template "metadata" .Token}}
<p class="note">Reload the page: the token now comes from the L1 cache.</p>{{end}}`,
	"todos": `{{define "body"}}<h1>Your todos</h1><p class="note">The Todo API answered (called with your token):</p>
<ul id="todos">{{range .Todos}}<li>{{.}}</li>{{else}}<li>No todos yet.</li>{{end}}</ul>
{{template "metadata" .Token}}<p><a href="/todos/write">Add a todo</a> (asks for one more permission the first time)</p>{{end}}`,
	"write": `{{define "body"}}<h1>Add a todo</h1><p class="ok" id="write-granted">You granted Todo.ReadWrite.</p>
<form method="post" action="/todos/write"><input type="hidden" name="csrf" value="{{.CSRF}}">
<input name="text" id="todo-text" value="Try identityweb for Go" size="40"> <button id="todo-add">Add</button></form>
{{template "metadata" .Token}}{{end}}`,
}

var views = map[string]*template.Template{}

func init() {
	for name, body := range bodies {
		t := template.Must(template.Must(pages.Clone()).Parse(body))
		views[name] = t
	}
}

type tokenView struct {
	Scope string
	R     identityweb.Result
}

type pageData struct {
	User     *identityweb.Account
	CSRF     string
	Provider string
	Token    *tokenView
	Todos    []string
}

func render(w http.ResponseWriter, name string, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	views[name].ExecuteTemplate(w, "layout", d)
}
