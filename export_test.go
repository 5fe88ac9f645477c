package identityweb

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// CacheKeysForTest lists the keys an acquirer would use for a daemon's
// default-tenant app token of WebAPI's .default scope.
func CacheKeysForTest(t testing.TB, a *TokenAcquirer, scope string) []string {
	return []string{a.tokenKey(kindApp, a.cfg.TenantID, []string{scope}, "")}
}

// FillForTest puts n synthetic tokens of the given kind ('A', 'O', 'U') into
// the acquirer's cache, under keys of other scopes and partitions, so that
// benchmarks measure hits among n cached tokens.
func FillForTest(a *TokenAcquirer, kind byte, n int) {
	now := a.clock.Now()
	e := tokenEntry{accessToken: "filler-token-of-64-bytes.................................", expiresOn: now.Add(24 * time.Hour).Unix()}
	val := encodeToken(&e)
	for i := 0; i < n; i++ {
		partition := ""
		scope := "api://filler/.default"
		switch kind {
		case kindApp:
			scope = "api://filler-" + strconv.Itoa(i) + "/.default"
		default:
			partition = digest(strconv.Itoa(i))
		}
		a.cache.Set(context.Background(), a.tokenKey(kind, a.cfg.TenantID, []string{scope}, partition), val, 24*time.Hour)
	}
}
