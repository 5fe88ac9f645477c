package identitywebtest

import (
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/identityweb/go-identityweb/internal/jws"
)

// Single sign-out as Entra does it: ID tokens carry the provider session's
// id ("sid"), and the sign-out page of a provider session loads the
// front-channel logout URL of every app that signed in through it in an
// iframe, with ?iss=…&sid=… appended (OpenID Connect Front-Channel Logout
// 1.0), before returning to the post-logout redirect URI.
//
// Entra does not send back-channel logout tokens; BackchannelLogoutToken
// mints one as a standards provider would, for tests of an app's
// back-channel endpoint.

// endSession forgets s under every cookie that names it; p.mu is held.
func (p *Provider) endSession(s *idpSession) {
	if s == nil {
		return
	}
	for k, v := range p.sessions {
		if v == s {
			delete(p.sessions, k)
		}
	}
}

// frontChannelURLs returns the front-channel logout URLs to load for an
// ended session, with iss and sid.
func (p *Provider) frontChannelURLs(rc *requestContext, s *idpSession) []string {
	if s == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for id := range s.clients {
		c := p.clients[id]
		if c == nil || c.FrontChannelLogoutURL == "" {
			continue
		}
		u, err := url.Parse(c.FrontChannelLogoutURL)
		if err != nil {
			continue
		}
		q := u.Query()
		q.Set("iss", rc.issuer(s.user.tenant.ID))
		q.Set("sid", s.id)
		u.RawQuery = q.Encode()
		out = append(out, u.String())
	}
	sort.Strings(out)
	return out
}

var frontChannelTmpl = template.Must(template.New("fc").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signed out</title></head>
<body><h1>You signed out of your account</h1>
{{range .Frames}}<iframe src="{{.}}" data-frontchannel-logout hidden></iframe>
{{end}}{{if .Next}}<p><a id="continue" href="{{.Next}}">Continue</a></p>
<script>
(function () {
  var next = {{.Next}}, left = document.querySelectorAll("iframe[data-frontchannel-logout]").length;
  function go() { window.location.replace(next); }
  document.querySelectorAll("iframe[data-frontchannel-logout]").forEach(function (f) {
    f.addEventListener("load", function () { if (--left === 0) go(); });
  });
  setTimeout(go, 3000);
})();
</script>{{end}}
</body></html>
`))

// frontChannelPage renders the sign-out page that loads each app's
// front-channel logout URL, then goes on to next (when not empty).
func (p *Provider) frontChannelPage(w http.ResponseWriter, rc *requestContext, frames []string, next string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-src *; script-src 'unsafe-inline'")
	w.WriteHeader(http.StatusOK)
	frontChannelTmpl.Execute(w, map[string]any{"Frames": frames, "Next": next})
}

var (
	reFrame    = regexp.MustCompile(`<iframe src="([^"]+)" data-frontchannel-logout`)
	reContinue = regexp.MustCompile(`<a id="continue" href="([^"]+)"`)
)

// SignOut opens endSessionURL (the provider's /logout with the app's
// parameters) as a browser would: when the sign-out page loads apps'
// front-channel logout URLs in iframes, it loads each (with Client, which
// sends no app cookie: cross-site frames carry no SameSite=Lax cookie), then
// it returns where the provider sends the browser next — the post-logout
// redirect URI with state, or the provider's own signed-out page.
// FrontChannelStatus holds the status each frame answered with. Get and
// PostForm load the frames the same way when they meet the page.
func (b *Browser) SignOut(endSessionURL string) (*url.URL, error) {
	resp, body, err := b.do(http.MethodGet, endSessionURL, nil)
	if err != nil {
		return nil, err
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		return resp.Request.URL.Parse(loc)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, ErrNoRedirect
	}
	next, err := b.loadFrontChannel(resp, body)
	if err != nil || next != nil {
		return next, err
	}
	return resp.Request.URL, nil
}

// isFrontChannelPage reports whether body is the sign-out page that loads
// front-channel logout frames.
func isFrontChannelPage(body string) bool { return strings.Contains(body, "data-frontchannel-logout") }

// loadFrontChannel loads the frames of a sign-out page and returns its
// continue link (nil when it has none).
func (b *Browser) loadFrontChannel(resp *http.Response, body string) (*url.URL, error) {
	b.FrontChannelStatus = nil
	for _, m := range reFrame.FindAllStringSubmatch(body, -1) {
		u, err := resp.Request.URL.Parse(htmlUnescape(m[1]))
		if err != nil {
			return nil, err
		}
		fr, err := b.Client.Get(u.String())
		if err != nil {
			return nil, err
		}
		fr.Body.Close()
		b.FrontChannelStatus = append(b.FrontChannelStatus, fr.StatusCode)
	}
	if m := reContinue.FindStringSubmatch(body); m != nil {
		return resp.Request.URL.Parse(htmlUnescape(m[1]))
	}
	return nil, nil
}

func htmlUnescape(s string) string {
	r := strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">")
	return r.Replace(s)
}

// BackchannelLogoutToken mints the logout token a standards provider posts
// to an app's back-channel logout URI (OpenID Connect Back-Channel Logout
// 1.0) for username's sessions with clientID: sub is the user's subject for
// that app, sid (when not empty) the provider session, signed with the
// provider's current key, typ logout+jwt, a fresh jti, iat now. Entra sends
// none; tests of an app's back-channel endpoint use it.
func (s *Server) BackchannelLogoutToken(clientID, username, sid string) (string, error) {
	return s.Provider.MintBackchannelLogoutToken(s.URL, clientID, username, sid)
}

// MintBackchannelLogoutToken is Server.BackchannelLogoutToken for a
// Provider served elsewhere: baseURL is the URL the provider is reached at
// (its issuer's prefix).
func (p *Provider) MintBackchannelLogoutToken(baseURL, clientID, username, sid string) (string, error) {
	p.mu.Lock()
	user, client := p.users[strings.ToLower(username)], p.clients[clientID]
	k := p.keys[0]
	p.mu.Unlock()
	if user == nil || client == nil {
		return "", errMint
	}
	now := p.now()
	rc := &requestContext{base: strings.TrimRight(baseURL, "/")}
	claims := map[string]any{
		"iss": rc.issuer(user.tenant.ID), "aud": clientID, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti": randomID(), "sub": pairwiseSub(user.ObjectID, clientID),
		"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}},
	}
	if sid != "" {
		claims["sid"] = sid
	}
	return jws.Sign(k.key, jws.Header{Alg: jws.RS256, Typ: "logout+jwt", Kid: k.kid}, claims)
}
