package identityweb

import (
	"net"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// tokenScope is where a downstream API's token may be sent: one origin
// (scheme, host, port) and the paths under one path. It is parsed once from
// DownstreamAPI.BaseURL and compared with every request the client sends,
// redirects included.
type tokenScope struct {
	scheme, host, port string
	path               string // escaped, without a trailing "/"; "" for the whole origin
}

// newTokenScope parses an absolute http(s) BaseURL without user info, query
// or fragment.
func newTokenScope(raw string) (tokenScope, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Opaque != "" || u.RawQuery != "" || u.Fragment != "" || hasDotSegment(u.Path) {
		return tokenScope{}, false
	}
	s := tokenScope{path: strings.TrimRight(u.EscapedPath(), "/")}
	var ok bool
	s.scheme, s.host, s.port, ok = origin(u.Scheme, u.Host)
	return s, ok
}

// origin normalizes a scheme and host[:port]: the scheme and host in lower
// case, the host without a trailing dot and in its ASCII (IDNA) form, the
// port explicit.
func origin(scheme, hostport string) (string, string, string, bool) {
	scheme = strings.ToLower(scheme)
	port := ""
	switch scheme {
	case "https":
		port = "443"
	case "http":
		port = "80"
	default:
		return "", "", "", false
	}
	u := url.URL{Host: hostport}
	host := u.Hostname()
	if p := u.Port(); p != "" {
		port = strings.TrimLeft(p, "0")
	} else if strings.HasSuffix(hostport, ":") {
		return "", "", "", false
	}
	if strings.Trim(port, "0123456789") != "" || port == "" || len(port) > 5 {
		return "", "", "", false
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" || strings.ContainsAny(host, "@/\\?#%") {
		return "", "", "", false
	}
	if net.ParseIP(host) == nil && !isASCII(host) { // as net/http dials it
		a, err := idna.Lookup.ToASCII(host)
		if err != nil || a == "" {
			return "", "", "", false
		}
		host = a
	}
	return scheme, strings.ToLower(host), port, true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// allows reports whether a token of the scope may go with a request to u
// whose Host header is host ("" when it is u's host).
func (s *tokenScope) allows(u *url.URL, host string) bool {
	if u.User != nil || u.Opaque != "" || !s.sameOrigin(u.Scheme, u.Host) {
		return false
	}
	if host != "" && !s.sameOrigin(u.Scheme, host) {
		return false
	}
	if hasDotSegment(u.Path) {
		return false
	}
	p := u.EscapedPath()
	return s.path == "" || p == s.path || strings.HasPrefix(p, s.path+"/")
}

func (s *tokenScope) sameOrigin(scheme, hostport string) bool {
	sc, h, p, ok := origin(scheme, hostport)
	return ok && sc == s.scheme && h == s.host && p == s.port
}

// hasDotSegment reports whether a (decoded) path has a "." or ".." segment,
// which a server may resolve to a path outside the scope.
func hasDotSegment(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}
