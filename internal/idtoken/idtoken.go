package idtoken

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/identityweb/go-identityweb/session"
)

// Account reads the account claims of an ID token received from
// the token endpoint over TLS. It does not verify the token: callers that
// trust it for sign-in verify it (signature, iss, aud, nonce) themselves.
func Account(idToken string) session.Account {
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		return session.Account{}
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return session.Account{}
	}
	var c struct {
		Oid               string `json:"oid"`
		Sub               string `json:"sub"`
		Tid               string `json:"tid"`
		PreferredUsername string `json:"preferred_username"`
		Name              string `json:"name"`
	}
	if json.Unmarshal(b, &c) != nil {
		return session.Account{}
	}
	if c.Oid == "" {
		c.Oid = c.Sub
	}
	return session.Account{ObjectID: c.Oid, TenantID: c.Tid, Username: c.PreferredUsername, Name: c.Name}
}
