package main

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// TestTemplate starts a new app from the sample as the README says: its
// files (not its tests) copied into a folder of their own, a go.mod
// requiring the library (here: this checkout, through a replace), go mod
// tidy, a build outside the workspace. The copy then runs, and a person
// signs in through it on the development provider's pages, reads the
// profile and the todos, and signs out.
func TestTemplate(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil || !bytes.Contains(b, []byte("module github.com/identityweb/go-identityweb\n")) {
		t.Fatalf("the checkout's root is not at %s: %v", root, err)
	}
	app := filepath.Join(t.TempDir(), "myapp")
	if err := os.Mkdir(app, 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(`"github.com/identityweb/go-identityweb/samples`)) {
			t.Fatalf("%s imports from the samples module: a copy would not build", f)
		}
		if err := os.WriteFile(filepath.Join(app, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	gocmd := func(args ...string) {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Env = app, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	gocmd("mod", "init", "example.com/myapp")
	gocmd("mod", "edit", "-require", "github.com/identityweb/go-identityweb@v0.0.0",
		"-replace", "github.com/identityweb/go-identityweb="+root)
	gocmd("mod", "tidy")
	gocmd("build", "-o", "myapp", ".")

	cmd := exec.Command(filepath.Join(app, "myapp"), "-addr", "localhost:0", "-idp-addr", "localhost:0")
	cmd.Dir = app
	cmd.Env = append(os.Environ(), "REDIS_URL=", "AzureAd__ClientId=", "AZURE_CLIENT_ID=")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := readLines(t, stdout, "Open ")
	appURL := strings.TrimSuffix(strings.TrimPrefix(lines[len(lines)-1], "Open "), "/")

	b := identitywebtest.NewBrowser(nil)
	b.Username = identitywebtest.AliceUsername
	page := func(method, path string, form url.Values, want string) string {
		t.Helper()
		var resp *http.Response
		var body string
		var err error
		if method == http.MethodPost {
			resp, body, err = b.PostForm(appURL+path, form)
		} else {
			resp, body, err = b.Get(appURL + path)
		}
		if err != nil || resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Fatalf("%s %s: %v %v, want %q:\n%s", method, path, err, resp, want, body)
		}
		return body
	}
	page("GET", "/", nil, `id="sign-in-button"`)
	me := page("GET", "/me", nil, "Hello, Alice Example")
	page("GET", "/todos", nil, "No todos yet.")
	page("POST", "/signout", url.Values{"csrf": {reCSRF.FindStringSubmatch(me)[1]}}, "You are signed out.")
}
