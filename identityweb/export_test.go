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

// RevokeForTest revokes a refresh token at endpoint as sign-out does.
func RevokeForTest(a *App, endpoint, token string) {
	a.acq.revoke(context.Background(), endpoint, token)
}
