package identityweb

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// accountFromIDToken reads the account claims of an ID token received from
// the token endpoint over TLS. It does not verify the token: callers that
// trust it for sign-in verify it (signature, iss, aud, nonce) themselves.
func accountFromIDToken(idToken string) Account {
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		return Account{}
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return Account{}
	}
	var c struct {
		Oid               string `json:"oid"`
		Sub               string `json:"sub"`
		Tid               string `json:"tid"`
		PreferredUsername string `json:"preferred_username"`
		Name              string `json:"name"`
	}
	if json.Unmarshal(b, &c) != nil {
		return Account{}
	}
	if c.Oid == "" {
		c.Oid = c.Sub
	}
	return Account{ObjectID: c.Oid, TenantID: c.Tid, Username: c.PreferredUsername, Name: c.Name}
}
