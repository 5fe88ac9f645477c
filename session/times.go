package session

import (
	"encoding/binary"
	"time"
)

// Times are when a signed-in session began and when it was last seen
// active. They live in the session itself (server-side data with scs, the
// cookie with gorilla's CookieStore), so every instance of an app judges a
// session's lifetime alike, whichever served it before.
type Times struct {
	SignedIn time.Time
	LastSeen time.Time
}

// Lifetimes bound a signed-in session, as scs's Lifetime and IdleTimeout
// do, for any Manager (gorilla/sessions has no such bounds of its own).
// The zero value sets none.
type Lifetimes struct {
	// Idle ends a session not seen for this long. 0: no idle bound.
	Idle time.Duration
	// Absolute ends a session this long after sign-in, however active.
	// 0: no absolute bound.
	Absolute time.Duration
}

// Expired reports whether a session with times t is over at now: Absolute
// since it signed in, or Idle since it was last seen. A session without
// times (SignedIn zero) is over as soon as any bound is set.
func (l Lifetimes) Expired(t Times, now time.Time) bool {
	if l.Idle <= 0 && l.Absolute <= 0 {
		return false
	}
	if t.SignedIn.IsZero() {
		return true
	}
	if l.Absolute > 0 && !now.Before(t.SignedIn.Add(l.Absolute)) {
		return true
	}
	seen := t.LastSeen
	if seen.Before(t.SignedIn) {
		seen = t.SignedIn
	}
	return l.Idle > 0 && !now.Before(seen.Add(l.Idle))
}

// Deadline is when a session that signed in at signedIn ends at the
// latest: signedIn + Absolute (zero without an absolute bound).
func (l Lifetimes) Deadline(signedIn time.Time) time.Time {
	if l.Absolute <= 0 {
		return time.Time{}
	}
	return signedIn.Add(l.Absolute)
}

// TouchEvery is how stale LastSeen may get before it is rewritten: a tenth
// of Idle, at most a minute (0 without an idle bound). Rewriting it on every
// request would save the session on every request; this way a session
// expires at most that much before Idle of true inactivity, never after.
func (l Lifetimes) TouchEvery() time.Duration {
	if l.Idle <= 0 {
		return 0
	}
	return min(l.Idle/10, time.Minute)
}

const keyTimes = "idw.times"

// The times travel as 16 bytes (two little-endian Unix nanosecond
// counts) in a string value, which every scs codec and gorilla store keeps:
// decoding them is cheap, on every signed-in request.
func encodeTimes(t Times) string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(t.SignedIn.UnixNano()))
	binary.LittleEndian.PutUint64(b[8:], uint64(t.LastSeen.UnixNano()))
	return string(b[:])
}

func decodeTimes(s string) Times {
	if len(s) != 16 {
		return Times{}
	}
	var in, seen uint64
	for i := 7; i >= 0; i-- {
		in = in<<8 | uint64(s[i])
		seen = seen<<8 | uint64(s[8+i])
	}
	if int64(in) <= 0 {
		return Times{}
	}
	return Times{SignedIn: time.Unix(0, int64(in)), LastSeen: time.Unix(0, int64(seen))}
}
