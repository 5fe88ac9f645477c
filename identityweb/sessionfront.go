package identityweb

import (
	"time"
	"unsafe"

	"github.com/identityweb/go-identityweb/internal/cachekey"
)

// The session front: a signed-in session found live (its record says so,
// its account is in the cache) is kept by session key beside handles on
// the two L1 entries the check read, so that the next request of the
// session checks two atomic flags instead of computing its partition,
// building two cache keys and looking both up. Coherence is the L1's, as
// for the token fronts (front.go): the session ended anywhere (its record
// replaced), its account removed, an entry evicted, invalidated or due for
// revalidation, or the record's or the account's L1 lifetime over, and the
// full check decides again. The session's own lifetimes are judged on
// every request, from the times the session keeps.

// sessionFrontLive reports whether the session of key was found live
// before and nothing it was found live by has changed.
func (a *App) sessionFrontLive(key string, now time.Time) bool {
	fe := a.sessionFront.find(key, nil)
	return fe != nil && fe.h.Use() && fe.account.Use() && now.Unix() < fe.deadline
}

// sessionFrontStore keeps a session just found live, when the shard has
// room and the cache's L1 is the library's Memory.
func (a *App) sessionFrontStore(key, partition string, now time.Time) {
	t := &a.sessionFront
	if !t.room(key, now.Unix()) {
		return
	}
	l1 := a.acq.l1()
	if l1 == nil {
		return
	}
	var buf [256]byte
	rk := a.acq.keys.AppendSessionRecord(buf[:0], partition)
	v, rec, ok := l1.LookupHandle(unsafe.String(unsafe.SliceData(rk), len(rk)), now)
	if !ok || !rec.Valid() || len(v) != 9 || v[0] != recordLive { // the handle must name a live record
		return
	}
	ak := a.acq.keys.AppendRefresh(buf[:0], cachekey.User, partition)
	_, acc, ok := l1.LookupHandle(unsafe.String(unsafe.SliceData(ak), len(ak)), now)
	if !ok || !acc.Valid() {
		return
	}
	t.store(key, &frontEntry{h: rec, account: acc, user: true, deadline: min(rec.Expires().Unix(), acc.Expires().Unix())}, now.Unix())
}
