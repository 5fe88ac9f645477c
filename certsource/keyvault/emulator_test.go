package keyvault_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// vault emulates Key Vault's secrets API on loopback behind TLS, with its
// challenge authentication: an unauthenticated request gets 401 and a
// WWW-Authenticate naming the authority and resource; the Azure SDK then
// asks its credential for a token and retries.
type vault struct {
	srv        *httptest.Server
	mu         sync.Mutex
	secrets    map[string][]secretVersion // newest last
	challenges int
	fail       int  // status to answer with, 0 for none
	acceptJWT  bool // accept any JWT bearer (managed identity tokens)
}

type secretVersion struct {
	value, contentType string
	enabled            bool
}

const vaultToken = "vault-access-token"

func newVault(t *testing.T) *vault {
	v := &vault{secrets: map[string][]secretVersion{}}
	v.srv = httptest.NewTLSServer(http.HandlerFunc(v.serve))
	t.Cleanup(v.srv.Close)
	return v
}

func (v *vault) put(name, value, contentType string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.secrets[name] = append(v.secrets[name], secretVersion{value: value, contentType: contentType, enabled: true})
}

func (v *vault) setFail(status int) {
	v.mu.Lock()
	v.fail = status
	v.mu.Unlock()
}

func (v *vault) serve(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	defer v.mu.Unlock()
	authz := r.Header.Get("Authorization")
	if authz != "Bearer "+vaultToken && !(v.acceptJWT && strings.HasPrefix(authz, "Bearer ey")) {
		v.challenges++
		w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/c0ffee00-0000-4000-8000-000000000001", resource="https://vault.azure.net"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if v.fail != 0 {
		w.WriteHeader(v.fail)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "Injected", "message": "injected fault"}})
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if r.Method != http.MethodGet || len(parts) < 2 || parts[0] != "secrets" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	versions := v.secrets[parts[1]]
	var sv *secretVersion
	idx := -1
	for i := len(versions) - 1; i >= 0; i-- { // the newest enabled version
		if versions[i].enabled {
			sv, idx = &versions[i], i
			break
		}
	}
	if sv == nil {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "SecretNotFound", "message": "not found"}})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"value": sv.value, "contentType": sv.contentType,
		"id":         v.srv.URL + "/secrets/" + parts[1] + "/v" + string(rune('0'+idx)),
		"attributes": map[string]any{"enabled": true},
	})
}

// staticCredential is the Azure SDK credential of the tests: it hands out
// the token the emulator expects and counts how often it was asked.
type staticCredential struct {
	mu    sync.Mutex
	calls int
}

func (c *staticCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	return azcore.AccessToken{Token: vaultToken, ExpiresOn: time.Now().Add(time.Hour)}, nil
}
