package aztoken_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/identityweb/go-identityweb/identityweb"
	"github.com/identityweb/go-identityweb/identityweb/aztoken"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// sdkCall sends a request through an Azure SDK pipeline with the bearer
// token policy, as an SDK client does, and returns the Authorization
// header the service saw.
func sdkCall(t *testing.T, ctx context.Context, cred *aztoken.Credential, scope string) (string, error) {
	var got string
	svc := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Get("Authorization") }))
	defer svc.Close()
	pl := runtime.NewPipeline("aztoken-test", "v0", runtime.PipelineOptions{
		PerRetry: []policy.Policy{runtime.NewBearerTokenPolicy(cred, []string{scope}, nil)},
	}, &policy.ClientOptions{Transport: svc.Client()})
	req, err := runtime.NewRequest(ctx, http.MethodGet, svc.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := pl.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	return got, nil
}

func TestAppCredential(t *testing.T) {
	idp := iwt.NewServer(t, iwt.Options{})
	app, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: iwt.DefaultTenantID,
		ClientID: iwt.DaemonClientID, ClientSecret: iwt.DaemonSecret}, identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client()}})
	if err != nil {
		t.Fatal(err)
	}
	cred := aztoken.NewCredential(app, aztoken.Options{As: identityweb.AsApp})
	for i := 0; i < 2; i++ {
		authz, err := sdkCall(t, context.Background(), cred, iwt.WebAPIIdentifierURI+"/.default")
		if err != nil || !strings.HasPrefix(authz, "Bearer ey") {
			t.Fatalf("call %d: %q %v", i, authz, err)
		}
	}
	if n := idp.TokenRequests("client_credentials"); n != 1 {
		t.Fatalf("token requests = %d", n)
	}
}

func TestUserCredentialInAWebApp(t *testing.T) {
	idp := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	app, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: iwt.DefaultTenantID,
		ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client()}, InsecureAllowHTTPCookies: true})
	if err != nil {
		t.Fatal(err)
	}
	cred := aztoken.NewCredential(app, aztoken.Options{})
	web := httptest.NewServer(app.Handler(app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authz, err := sdkCall(t, r.Context(), cred, "User.Read")
		if err != nil {
			app.Challenge(w, r, err)
			return
		}
		fmt.Fprint(w, strings.HasPrefix(authz, "Bearer ey"))
	}))))
	defer web.Close()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Transport: idp.Client().Transport, Timeout: 30 * time.Second}
	resp, err := browser.Get(web.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "true" {
		t.Fatalf("user credential through the SDK pipeline: %d %q", resp.StatusCode, b)
	}
}
