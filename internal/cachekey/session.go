package cachekey

// Keys of a web app's signed-in sessions. They share the builder's prefix
// (authority and client), so apps sharing a store never share them, and
// they hold only digests: of the session key (the partition), and of the
// provider's issuer with a session id, a subject or a token id.

// SessionRecord is the key of a session's record (live or ended), by its
// partition.
func (b Builder) SessionRecord(partition string) string {
	var buf [256]byte
	return string(b.AppendSessionRecord(buf[:0], partition))
}

// AppendSessionRecord appends SessionRecord's key to dst without
// allocating: the per-request session check builds it on the stack.
func (b Builder) AppendSessionRecord(dst []byte, partition string) []byte {
	dst = append(dst, b.prefix...)
	dst = append(dst, "S|"...)
	return append(dst, partition...)
}

// ProviderSession is the key of the index from a provider session (the
// ID token's sid) to the app's sessions.
func (b Builder) ProviderSession(issuer, sid string) string {
	return b.prefix + "XS|" + Digest(issuer+"\x00"+sid)
}

// ProviderSubject is the key of the index from a user (the ID token's sub)
// to the app's sessions.
func (b Builder) ProviderSubject(issuer, sub string) string {
	return b.prefix + "XU|" + Digest(issuer+"\x00"+sub)
}

// EndedProviderSession marks a provider session logged out, for sign-ins
// that complete after the logout arrived.
func (b Builder) EndedProviderSession(issuer, sid string) string {
	return b.prefix + "E|" + Digest(issuer+"\x00"+sid)
}

// LogoutTokenID is the replay-store key of a logout token's jti.
func (b Builder) LogoutTokenID(issuer, jti string) string {
	return b.prefix + "J|" + Digest(issuer+"\x00"+jti)
}
