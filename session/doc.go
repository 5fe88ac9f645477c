// Package session keeps one key per browser session for identityweb's web-app
// sign-in: over alexedwards/scs/v2 by default (server-side data, the cookie
// holds only a token) or over gorilla/sessions. The session holds the signed-in
// account (oid, tid, name, username) and a few ID-token claims — never tokens:
// those live in the token cache under a partition derived from the session
// key. The session token is renewed at sign-in (fixation defence) and its
// cookie is HttpOnly, SameSite=Lax and Secure unless allowed for localhost.
//
// NewSCS adapts an scs.SessionManager (its stores include Redis and SQL);
// NewGorilla adapts a gorilla/sessions Store.
//
// Both keep the session's Times (sign-in, last activity) in the session
// itself, so that every instance of an app judges its Lifetimes — an idle
// and an absolute bound, as scs's IdleTimeout and Lifetime, for gorilla
// sessions too — alike.
//
// Both are SignedReaders: identityweb reads a signed-in session's key,
// account and times at once on every request. With scs they are one session
// value (one read, one decoded entry); a Manager written elsewhere needs
// only the Manager methods.
package session
