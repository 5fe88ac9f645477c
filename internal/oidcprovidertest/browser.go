package oidcprovidertest

import (
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Browser drives oidc-provider's development sign-in, consent and logout
// pages over HTTP as a person with a browser would, for tests of code that
// starts an authorization request and handles the callback. It keeps the
// provider's cookies, so a second sign-in can be silent (prompt=none), and
// follows redirects only within the provider: the redirect back to the app
// is returned, not opened.
//
// The development sign-in page accepts any password; a user the provider
// does not know cannot sign in.
type Browser struct {
	// Client is the browser's HTTP client: it keeps cookies and does not
	// follow redirects.
	Client *http.Client

	origin string // scheme://host:port of the provider
}

// ErrNoRedirect is returned when the provider answered with a page where a
// redirect back to the app was expected; the page's status is in the error.
var ErrNoRedirect = errors.New("oidcprovidertest: the provider did not redirect back to the app")

// NewBrowser returns a Browser with an empty cookie jar.
func (p *Provider) NewBrowser() *Browser {
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(p.issuer)
	return &Browser{
		Client: &http.Client{
			Jar:           jar,
			Timeout:       30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		origin: u.Scheme + "://" + u.Host,
	}
}

var (
	reFormAction = regexp.MustCompile(`<form[^>]*\saction="([^"]*)"`)
	rePrompt     = regexp.MustCompile(`name="prompt" value="([^"]*)"`)
	reAbort      = regexp.MustCompile(`href="([^"]*/abort)"`)
	reHidden     = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)
)

// maxSteps bounds the pages one sign-in or sign-out walks through.
const maxSteps = 12

// SignIn opens authURL (the provider's authorization endpoint with the
// request's parameters), signs in as username when the sign-in page is shown,
// grants consent when asked (or, with consent false, cancels, and the
// provider redirects back with error=access_denied), and returns the URL the
// provider redirected to: the app's redirect URI with code, state and iss, or
// with an error.
func (b *Browser) SignIn(authURL, username string, consent bool) (*url.URL, error) {
	resp, body, err := b.do(http.MethodGet, authURL, nil)
	loggedIn := false
	for step := 0; err == nil && step < maxSteps; step++ {
		var next *url.URL
		if next, err = b.redirect(resp); err != nil || next != nil {
			if err != nil || next.Scheme+"://"+next.Host != b.origin {
				return next, err
			}
			resp, body, err = b.do(http.MethodGet, next.String(), nil)
			continue
		}
		action, prompt := formOf(resp, body)
		switch prompt {
		case "login":
			if loggedIn {
				return nil, fmt.Errorf("oidcprovidertest: the provider did not sign %q in (unknown user?)", username)
			}
			loggedIn = true
			resp, body, err = b.do(http.MethodPost, action, url.Values{
				"prompt": {"login"}, "login": {username}, "password": {"any"}})
		case "consent":
			if !consent {
				m := reAbort.FindStringSubmatch(body)
				if m == nil {
					return nil, fmt.Errorf("%w: no cancel link on the consent page", ErrNoRedirect)
				}
				abort, _ := resp.Request.URL.Parse(html.UnescapeString(m[1]))
				resp, body, err = b.do(http.MethodGet, abort.String(), nil)
				continue
			}
			resp, body, err = b.do(http.MethodPost, action, url.Values{"prompt": {"consent"}})
		default:
			return nil, fmt.Errorf("%w (status %d): %s", ErrNoRedirect, resp.StatusCode, excerpt(body))
		}
	}
	if err != nil {
		return nil, err
	}
	return nil, ErrNoRedirect
}

// SignOut opens endSessionURL (see Provider.EndSessionURL), confirms the
// sign-out, and returns the URL the provider redirected to: the
// post-logout redirect URI with state, or the provider's own success page
// when no post-logout redirect was allowed.
func (b *Browser) SignOut(endSessionURL string) (*url.URL, error) {
	resp, body, err := b.do(http.MethodGet, endSessionURL, nil)
	for step := 0; err == nil && step < maxSteps; step++ {
		var next *url.URL
		if next, err = b.redirect(resp); err != nil || next != nil {
			if err != nil || next.Scheme+"://"+next.Host != b.origin {
				return next, err
			}
			resp, body, err = b.do(http.MethodGet, next.String(), nil)
			continue
		}
		if !strings.Contains(body, `id="op.logoutForm"`) {
			if resp.StatusCode == http.StatusOK {
				return resp.Request.URL, nil // the provider's sign-out success page
			}
			return nil, fmt.Errorf("%w (status %d): %s", ErrNoRedirect, resp.StatusCode, excerpt(body))
		}
		action, _ := formOf(resp, body)
		form := url.Values{"logout": {"yes"}}
		for _, m := range reHidden.FindAllStringSubmatch(body, -1) {
			form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
		}
		resp, body, err = b.do(http.MethodPost, action, form)
	}
	if err != nil {
		return nil, err
	}
	return nil, ErrNoRedirect
}

// redirect returns the absolute Location of a redirect response, or nil.
func (b *Browser) redirect(resp *http.Response) (*url.URL, error) {
	loc := resp.Header.Get("Location")
	if loc == "" || resp.StatusCode < 300 || resp.StatusCode > 399 {
		return nil, nil
	}
	return resp.Request.URL.Parse(loc)
}

// formOf returns a page's first form's absolute action and its prompt field.
func formOf(resp *http.Response, body string) (action, prompt string) {
	if m := reFormAction.FindStringSubmatch(body); m != nil {
		if u, err := resp.Request.URL.Parse(html.UnescapeString(m[1])); err == nil {
			action = u.String()
		}
	}
	if m := rePrompt.FindStringSubmatch(body); m != nil {
		prompt = m[1]
	}
	return action, prompt
}

func (b *Browser) do(method, target string, form url.Values) (*http.Response, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		return nil, "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.Client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, string(raw), err
}

// excerpt returns the visible text of an error page, shortened.
func excerpt(body string) string {
	text := regexp.MustCompile(`(?s)<style.*?</style>|<[^>]+>`).ReplaceAllString(body, " ")
	text = strings.Join(strings.Fields(html.UnescapeString(text)), " ")
	if len(text) > 300 {
		text = text[:300] + "…"
	}
	return text
}
