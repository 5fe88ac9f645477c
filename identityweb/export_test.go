package identityweb

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/internal/cacheentry"
	"github.com/identityweb/go-identityweb/internal/cachekey"
)

// CacheKeysForTest lists the keys an acquirer would use for a daemon's
// default-tenant app token of WebAPI's .default scope.
func CacheKeysForTest(t testing.TB, a *TokenAcquirer, scope string) []string {
	return []string{a.keys.Token(cachekey.App, a.cfg.TenantID, []string{scope}, "")}
}

// FillForTest puts n synthetic tokens of the given kind ('A', 'O', 'U') into
// the acquirer's cache, under keys of other scopes and partitions, so that
// benchmarks measure hits among n cached tokens.
func FillForTest(a *TokenAcquirer, kind byte, n int) {
	now := a.clock.Now()
	e := cacheentry.Token{AccessToken: "filler-token-of-64-bytes.................................", ExpiresOn: now.Add(24 * time.Hour).Unix()}
	val := cacheentry.EncodeToken(&e)
	k := cachekey.Kind(kind)
	for i := 0; i < n; i++ {
		partition := ""
		scope := "api://filler/.default"
		switch k {
		case cachekey.App:
			scope = "api://filler-" + strconv.Itoa(i) + "/.default"
		default:
			partition = cachekey.Digest(strconv.Itoa(i))
		}
		a.cache.Set(context.Background(), a.keys.Token(k, a.cfg.TenantID, []string{scope}, partition), val, 24*time.Hour)
	}
}

// WaitForBackground waits for the acquirer's background refreshes in
// flight, without cancelling them as Close does.
func WaitForBackground(a *TokenAcquirer) { a.bg.wg.Wait() }

// StartSessionForTest records a signed-in session of sessionKey for the
// provider session (iss, sid) and user sub, as a sign-in does.
func StartSessionForTest(a *App, sessionKey, iss, sid, sub string) {
	now := a.acq.clock.Now()
	a.startSession(context.Background(), a.acq.Session(sessionKey).partition, iss, sid, sub, a.lifetimes().Deadline(now))
}

// SessionLiveForTest reports whether the record of sessionKey says live.
func SessionLiveForTest(a *App, sessionKey string) bool {
	v, ok, _ := a.acq.cache.Get(context.Background(), a.acq.keys.SessionRecord(a.acq.Session(sessionKey).partition))
	return ok && len(v) == 9 && v[0] == recordLive
}

// IndexedForTest returns the partitions the index of a provider session
// names.
func IndexedForTest(a *App, iss, sid string) []string {
	var out []string
	list, _ := a.readIndex(context.Background(), a.acq.keys.ProviderSession(iss, sid))
	for _, e := range list {
		out = append(out, e.P)
	}
	return out
}

// TokenKeysForTest returns the cache keys of a session partition's tokens:
// its refresh token entry and the access tokens it lists.
func TokenKeysForTest(a *App, partition string) []string {
	rt, _ := a.acq.loadRefresh(context.Background(), cachekey.User, partition)
	return append(rt.ATKeys, a.acq.keys.Refresh(cachekey.User, partition))
}

// SessionRecordKeyForTest is the cache key of a partition's session record.
func SessionRecordKeyForTest(a *App, partition string) string {
	return a.acq.keys.SessionRecord(partition)
}

// RevokeForTest revokes a refresh token at endpoint as sign-out does.
func RevokeForTest(a *App, endpoint, token string) {
	a.acq.revoke(context.Background(), endpoint, token)
}

// TokenKeyForTest is the cache key of the plain token request of kind ('A',
// 'O', 'U') for scopes; secret is the incoming token (OBO) or the session
// key (users).
func TokenKeyForTest(a *TokenAcquirer, kind byte, scopes []string, secret string) string {
	partition := ""
	if secret != "" {
		partition = cachekey.Digest(secret)
	}
	return a.keys.Token(cachekey.Kind(kind), a.cfg.TenantID, cachekey.NormalizeScopes(scopes), partition)
}

// AccountKeyForTest is the cache key of the account (refresh token entry)
// of a session key.
func AccountKeyForTest(a *TokenAcquirer, sessionKey string) string {
	return a.keys.Refresh(cachekey.User, cachekey.Digest(sessionKey))
}

// PendingIndexesForTest is the number of index additions waiting for the
// shared cache.
func PendingIndexesForTest(a *App) int {
	a.logouts.mu.Lock()
	defer a.logouts.mu.Unlock()
	return len(a.logouts.indexes)
}
