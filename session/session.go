package session

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// Account is the signed-in user as the session keeps it: identifiers and
// display names, never tokens.
type Account struct {
	ObjectID string // oid
	TenantID string // tid
	Username string // preferred_username
	Name     string // name
}

// Manager keeps identityweb's state in the browser's session.
// Implementations are safe for concurrent use. Methods given a context that
// did not pass through the session middleware never panic: readers return
// their zero value, writers ErrNoSession.
type Manager interface {
	// Middleware loads the session before next and saves it after.
	Middleware(next http.Handler) http.Handler
	// Loaded reports whether ctx passed through the session middleware.
	Loaded(ctx context.Context) bool
	// Key returns the session key of the signed-in session, or "". The key
	// is random, made at sign-in, never sent to the browser, and names the
	// session's token cache partition.
	Key(ctx context.Context) string
	// Account returns the signed-in account.
	Account(ctx context.Context) (Account, bool)
	// SignIn renews the session token (fixation defence) and stores the
	// account under a new key.
	SignIn(ctx context.Context, key string, acct Account) error
	// SignOut destroys the session.
	SignOut(ctx context.Context) error
	// CSRFToken returns the session's anti-forgery token for state-changing
	// forms (sign-out), "" when not signed in.
	CSRFToken(ctx context.Context) string
	// Times returns when the signed-in session began and was last seen
	// active (zero when not signed in, or never recorded); SetTimes records
	// them (ErrNoSession without a session). The app judges the session's
	// Lifetimes from them on every request, on every instance.
	Times(ctx context.Context) Times
	SetTimes(ctx context.Context, t Times) error
}

// Signed is what a signed-in session holds, read at once.
type Signed struct {
	Key     string // as Manager.Key
	Account Account
	Times   Times
}

// SignedReader is a Manager that reads a signed-in session's key, account
// and times in one lookup. identityweb uses it, when its Manager has it, on
// every signed-in request instead of calling Key, Account and Times; SCS
// and Gorilla have it. Signed reports false when the session is not signed
// in (no key or no account), or when ctx did not pass the session
// middleware; it never panics.
type SignedReader interface {
	Signed(ctx context.Context) (Signed, bool)
}

// ErrAccountNUL: an account field (or the session key) holds a NUL byte,
// which the session uses to separate them (a name could otherwise pose as
// another user name).
var ErrAccountNUL = errors.New("session: an account field holds a NUL byte")

// encodeAccount joins acct's fields for the session, refusing a field that
// holds the separator.
func encodeAccount(acct Account) (string, error) {
	fields := []string{acct.ObjectID, acct.TenantID, acct.Username, acct.Name}
	for _, f := range fields {
		if strings.IndexByte(f, 0) >= 0 {
			return "", ErrAccountNUL
		}
	}
	return strings.Join(fields, "\x00"), nil
}

// decodeAccount splits what encodeAccount joined; the fields are slices of
// s.
func decodeAccount(s string) (Account, bool) {
	var f [4]string
	for i := range 3 {
		j := strings.IndexByte(s, 0)
		if j < 0 {
			return Account{}, false
		}
		f[i], s = s[:j], s[j+1:]
	}
	if strings.IndexByte(s, 0) >= 0 {
		return Account{}, false
	}
	f[3] = s
	return Account{ObjectID: f[0], TenantID: f[1], Username: f[2], Name: f[3]}, true
}
