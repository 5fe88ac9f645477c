package session

import "strings"

// keyState is the scs value holding a signed-in session's key, anti-forgery
// token, account and times: one value, so that a signed-in request reads
// and decodes one entry instead of four (each scs read and each decoded
// value costs an allocation). Sessions signed in before it keep their
// separate values (keyKey, keyAccount, keyCSRF, keyTimes) until they sign
// in again; both are read.
const keyState = "idw.state"

const stateVersion = 1

// state is a signed-in session as SCS keeps it.
type state struct {
	key, csrf string
	acct      Account
	accountOK bool // false only for an earlier session whose account value was unreadable
	times     Times
}

// encode lays st out as: version, the times (16 bytes, as encodeTimes),
// then key, csrf and the account's four fields separated by NUL bytes. A
// field holding a NUL byte is refused (ErrAccountNUL).
func (st state) encode() (string, error) {
	fields := [...]string{st.key, st.csrf, st.acct.ObjectID, st.acct.TenantID, st.acct.Username, st.acct.Name}
	n := 1 + 16 + len(fields)
	for _, f := range fields {
		if strings.IndexByte(f, 0) >= 0 {
			return "", ErrAccountNUL
		}
		n += len(f)
	}
	b := make([]byte, 0, n)
	b = append(b, stateVersion)
	b = append(b, encodeTimes(st.times)...)
	for i, f := range fields {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, f...)
	}
	return string(b), nil
}

// decodeState reads what encode wrote; its strings are slices of s (no
// allocation). A value of another layout, or without a key, is no state.
func decodeState(s string) (state, bool) {
	if len(s) < 17 || s[0] != stateVersion {
		return state{}, false
	}
	t := decodeTimes(s[1:17])
	var f [6]string
	rest := s[17:]
	for i := range 5 {
		j := strings.IndexByte(rest, 0)
		if j < 0 {
			return state{}, false
		}
		f[i], rest = rest[:j], rest[j+1:]
	}
	f[5] = rest
	if f[0] == "" {
		return state{}, false
	}
	return state{key: f[0], csrf: f[1], acct: Account{ObjectID: f[2], TenantID: f[3], Username: f[4], Name: f[5]}, accountOK: true, times: t}, true
}
