package identitywebtest

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

// Browser drives the provider's sign-in and consent pages over HTTP the way
// a person with a browser would, for tests of code that starts an
// authorization request and handles the callback. It keeps the provider's
// session cookie, so a second sign-in can be silent (prompt=none).
type Browser struct {
	// Client is the browser's HTTP client: it trusts the server, keeps
	// cookies and does not follow redirects.
	Client *http.Client
	// ConsentShown lists the scopes the last consent page asked for.
	ConsentShown []string

	// Username is the account Get and PostForm sign in as on the
	// provider's page.
	Username string
	// Password is typed with Username, for an account that has one.
	Password string
	// DeclineConsent makes Get and PostForm cancel the provider's consent
	// page rather than accept it.
	DeclineConsent bool
}

// NewBrowser returns a Browser for s.
func (s *Server) NewBrowser() *Browser { return newBrowser(s.Client()) }

// NewBrowser returns a Browser for l, and for the apps that sign in
// through it.
func (l *Local) NewBrowser() *Browser { return newBrowser(l.Client()) }

// NewBrowser returns a Browser that sends its requests through a copy of c
// (nil: a plain client with a 30 s timeout, enough for a provider on
// http://localhost), given its own cookie jar and stopping at redirects.
func NewBrowser(c *http.Client) *Browser {
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	cp := *c
	return newBrowser(&cp)
}

func newBrowser(c *http.Client) *Browser {
	jar, _ := cookiejar.New(nil)
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Browser{Client: c}
}

// maxHops bounds the redirects and provider pages of one Get or PostForm.
const maxHops = 20

// Get opens target — usually a page of an app that signs in through the
// provider — as a person with a browser would: it follows redirects, signs
// in on the provider's page as b.Username, accepts consent (or cancels it
// with b.DeclineConsent), submits form_post answers, and returns the first
// page that is neither a redirect nor one of the provider's sign-in pages,
// with its body.
func (b *Browser) Get(target string) (*http.Response, string, error) {
	return b.browse(http.MethodGet, target, nil)
}

// PostForm submits a form to target (a sign-out button, say) and goes on as
// Get does.
func (b *Browser) PostForm(target string, form url.Values) (*http.Response, string, error) {
	return b.browse(http.MethodPost, target, form)
}

func (b *Browser) browse(method, target string, form url.Values) (*http.Response, string, error) {
	resp, body, err := b.do(method, target, form)
	for hop := 0; hop < maxHops; hop++ {
		if err != nil {
			return nil, "", err
		}
		var next *url.URL
		if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode >= 300 && resp.StatusCode < 400 {
			if next, err = resp.Request.URL.Parse(loc); err != nil {
				return nil, "", err
			}
			resp, body, err = b.do(http.MethodGet, next.String(), nil)
			continue
		}
		switch {
		case strings.Contains(body, `id="signin-submit"`):
			if m := reError.FindStringSubmatch(body); m != nil && resp.Request.Method == http.MethodPost {
				return resp, body, fmt.Errorf("%w: %s", ErrNoRedirect, html.UnescapeString(m[1]))
			}
			resp, body, err = b.do(http.MethodPost, b.abs(resp, "login"),
				url.Values{"tx": {txOf(body)}, "username": {b.Username}, "password": {b.Password}})
		case strings.Contains(body, `id="consent-accept"`):
			b.ConsentShown = nil
			for _, m := range reScope.FindAllStringSubmatch(body, -1) {
				b.ConsentShown = append(b.ConsentShown, html.UnescapeString(m[1]))
			}
			decision := "accept"
			if b.DeclineConsent {
				decision = "cancel"
			}
			resp, body, err = b.do(http.MethodPost, b.abs(resp, "consent"), url.Values{"tx": {txOf(body)}, "decision": {decision}})
		case strings.Contains(body, "document.forms[0].submit()"):
			back, ferr := formPostResult(body)
			if ferr != nil {
				return nil, "", ferr
			}
			fields := back.Query()
			back.RawQuery = ""
			resp, body, err = b.do(http.MethodPost, back.String(), fields)
		default:
			return resp, body, nil
		}
	}
	if err != nil {
		return nil, "", err
	}
	return nil, "", fmt.Errorf("identitywebtest: more than %d redirects and pages from %s", maxHops, target)
}

// ErrNoRedirect is returned when the provider answered with a page where a
// redirect back to the app was expected; the page text is in the error.
var ErrNoRedirect = errors.New("identitywebtest: the provider did not redirect back to the app")

var (
	reTx      = regexp.MustCompile(`name="tx" value="([^"]+)"`)
	reScope   = regexp.MustCompile(`<li data-scope="([^"]+)">`)
	reError   = regexp.MustCompile(`class="error"[^>]*>([^<]+)<`)
	reFormIn  = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	reFormAct = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
)

// SignIn opens authURL, signs in as username (typing password when given),
// accepts or declines consent when asked, and returns the URL the provider
// sent the browser back to (the app's reply URL with code or error). With
// response_mode=form_post the posted fields are returned as the URL's query.
func (b *Browser) SignIn(authURL, username, password string, consent bool) (*url.URL, error) {
	b.ConsentShown = nil
	resp, body, err := b.do(http.MethodGet, authURL, nil)
	if err != nil {
		return nil, err
	}
	for step := 0; step < 4; step++ {
		if loc := resp.Header.Get("Location"); loc != "" {
			return resp.Request.URL.Parse(loc)
		}
		switch {
		case strings.Contains(body, `action="`) && strings.Contains(body, `/login"`):
			if m := reError.FindStringSubmatch(body); m != nil && step > 0 {
				return nil, fmt.Errorf("%w: %s", ErrNoRedirect, html.UnescapeString(m[1]))
			}
			form := url.Values{"tx": {txOf(body)}, "username": {username}, "password": {password}}
			resp, body, err = b.do(http.MethodPost, b.abs(resp, "login"), form)
		case strings.Contains(body, `id="consent-accept"`):
			for _, m := range reScope.FindAllStringSubmatch(body, -1) {
				b.ConsentShown = append(b.ConsentShown, html.UnescapeString(m[1]))
			}
			decision := "cancel"
			if consent {
				decision = "accept"
			}
			resp, body, err = b.do(http.MethodPost, b.abs(resp, "consent"), url.Values{"tx": {txOf(body)}, "decision": {decision}})
		case strings.Contains(body, "document.forms[0].submit()"):
			return formPostResult(body)
		default:
			if m := reError.FindStringSubmatch(body); m != nil {
				return nil, fmt.Errorf("%w: %s", ErrNoRedirect, html.UnescapeString(m[1]))
			}
			return nil, fmt.Errorf("%w (status %d)", ErrNoRedirect, resp.StatusCode)
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, ErrNoRedirect
}

func txOf(body string) string {
	if m := reTx.FindStringSubmatch(body); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

// abs builds the URL of the page form endpoint next to the authorize URL.
func (b *Browser) abs(resp *http.Response, endpoint string) string {
	u := *resp.Request.URL
	seg := strings.SplitN(strings.TrimPrefix(u.Path, "/"), "/", 2)[0]
	u.Path, u.RawQuery = "/"+seg+"/"+endpoint, ""
	return u.String()
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

func formPostResult(body string) (*url.URL, error) {
	act := reFormAct.FindStringSubmatch(body)
	if act == nil {
		return nil, ErrNoRedirect
	}
	u, err := url.Parse(html.UnescapeString(act[1]))
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	for _, m := range reFormIn.FindAllStringSubmatch(body, -1) {
		q.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	u.RawQuery = q.Encode()
	return u, nil
}
