package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// TestBrowserSignIn runs the quick start as the README gives it — the
// sample built and started with no flags but free ports (so that test runs
// never collide with a sample left running), its development provider on
// plain http://localhost — and drives headless Chromium (Debian's chromium)
// through what a person does: sign in on the provider's page, consent, read
// the profile and its token metadata, call the Todo API, cancel the consent
// to a second scope (the sample's error page, then back to a working page),
// grant it, add a todo, and sign out. The browser trusts nothing special:
// no certificate flags. It asserts on the visible text of every page and
// saves a screenshot of each to $IDWEB_SCREENSHOTS (default: a temporary
// directory, printed in the test log).
func TestBrowserSignIn(t *testing.T) {
	chromium := findChromium(t)
	bin := filepath.Join(t.TempDir(), "webapp")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "localhost:0", "-idp-addr", "localhost:0")
	cmd.Env = append(os.Environ(), "REDIS_URL=", "AzureAd__ClientId=", "AZURE_CLIENT_ID=")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := readLines(t, stdout, "Open ")
	appURL := strings.TrimSuffix(strings.TrimPrefix(lines[len(lines)-1], "Open "), "/")
	if !strings.HasPrefix(appURL, "http://localhost:") || !strings.Contains(strings.Join(lines, "\n"), "Development identity provider: http://localhost:") {
		t.Fatalf("the sample printed:\n%s", strings.Join(lines, "\n"))
	}

	shots := os.Getenv("IDWEB_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	os.MkdirAll(shots, 0o755)
	t.Logf("screenshots in %s", shots)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("headless", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1100, 800),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 120*time.Second)
	defer cancel()

	step := 0
	fail := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("browser step %d (%s): %v", step, what, err)
		}
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		step++
		fail(what, chromedp.Do(ctx, steps...))
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		fail("read "+sel, err)
		return strings.TrimSpace(s)
	}
	// page saves a screenshot and checks the page's visible text.
	page := func(name string, want []string, notWant ...string) string {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		fail("screenshot "+name, err)
		fail("save "+name, os.WriteFile(filepath.Join(shots, fmt.Sprintf("%02d-%s.png", step, name)), png, 0o644))
		body := text("body")
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Fatalf("step %d (%s): the page does not say %q; it says:\n%s", step, name, w, body)
			}
		}
		for _, w := range notWant {
			if strings.Contains(body, w) {
				t.Fatalf("step %d (%s): the page says %q:\n%s", step, name, w, body)
			}
		}
		return body
	}
	alice := `button[data-username="` + identitywebtest.AliceUsername + `"]`

	do("open the app", chromedp.Navigate(appURL+"/"), chromedp.WaitVisible("#sign-in-button"))
	page("home", []string{"Sign in with OpenID Connect", "the development identity provider"}, "signed out", "Signed in as")
	do("sign in", chromedp.Click("#sign-in-button"), chromedp.WaitVisible(alice))
	page("provider-sign-in", []string{"Sign in", "Web app (development)", "Alice Example", identitywebtest.AliceUsername, "Bob Example"})
	do("pick Alice", chromedp.Click(alice), chromedp.WaitVisible("#consent-accept"))
	page("consent", []string{"Permissions requested", "access_as_user", "Todo web API (development)", "Signed in as " + identitywebtest.AliceUsername},
		"Todo.ReadWrite")
	do("consent", chromedp.Click("#consent-accept"), chromedp.WaitVisible("#greeting"))
	profile := page("profile", []string{"Hello, Alice Example", identitywebtest.AliceUsername, "Token for the Todo API",
		"L1 cache hit: sub-microsecond, not timed"}, "0s in all")
	if !regexp.MustCompile(`Expires\s+\w{3} \d{1,2} \w{3} \d{4}, \d\d:\d\d:\d\d \S+`).MatchString(profile) {
		t.Fatalf("the expiry has no date or zone:\n%s", profile)
	}
	if s := text("td.md-source"); s != "cache" {
		t.Fatalf("source %q", s)
	}

	do("todos", chromedp.Click("#nav-todos"), chromedp.WaitVisible("#todos"))
	page("todos-empty", []string{"Your todos", "No todos yet.", "Add todos", "asks you for one more permission (Todo.ReadWrite) first"}, "New todo")

	// Adding needs Todo.ReadWrite: the provider asks for consent on the way.
	// Cancelled first: the sample's own page, and back to a working page.
	do("add todos", chromedp.Click("#allow-write"), chromedp.WaitVisible("#consent-cancel"))
	page("incremental-consent", []string{"Permissions requested", "Todo.ReadWrite"}, "access_as_user")
	do("cancel the consent", chromedp.Click("#consent-cancel"), chromedp.WaitVisible("#error-title"))
	page("consent-cancelled", []string{"identityweb sample", "Sign-in was cancelled.", "Nothing was granted.",
		"You are still signed in as Alice Example", "Back to your todos"}, "Bad Request", "Forbidden")
	do("back to the todos", chromedp.Click("#error-back"), chromedp.WaitVisible("#todos"))
	page("todos-after-cancel", []string{"Your todos", "No todos yet.", "Add todos"})

	do("add todos again", chromedp.Click("#allow-write"), chromedp.WaitVisible("#consent-accept"))
	do("consent again", chromedp.Click("#consent-accept"), chromedp.WaitVisible("#write-granted"))
	page("todos-granted", []string{"You allowed this app to add todos (Todo.ReadWrite).", "New todo", "Token for adding"},
		"one more permission", "Add todos")
	if v, err := chromedp.Run(ctx, chromedp.Value("#todo-text")); err != nil || v != "" {
		t.Fatalf("the text box is pre-filled: %q %v", v, err)
	}
	if a, err := chromedp.Run(ctx, chromedp.AttributeValue("#todo-text", "placeholder")); err != nil || a.Value != "What needs doing?" {
		t.Fatalf("placeholder: %+v %v", a, err)
	}
	do("add a todo", chromedp.SendKeys("#todo-text", "Ship identityweb for Go"), chromedp.Click("#todo-add"),
		chromedp.WaitNotPresent("#write-granted"), chromedp.WaitVisible("#todos"))
	page("todos-added", []string{"Ship identityweb for Go"}, "No todos yet.")
	if s := text("#todos"); s != "Ship identityweb for Go" {
		t.Fatalf("todos: %q", s)
	}

	do("sign out", chromedp.Click("#sign-out"), chromedp.WaitVisible("#signed-out"))
	page("signed-out", []string{"You are signed out.", "Sign in"}, "You are signed in", "Alice")
}

func findChromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found and CI is set: install it (apt-get install chromium)")
	}
	t.Skip("chromium not found: install Debian's chromium to run the browser test")
	return ""
}

// readLines reads r line by line until a line starts with prefix and
// returns the lines so far; the rest of r is drained in the background.
func readLines(t *testing.T, r io.Reader, prefix string) []string {
	t.Helper()
	done := make(chan []string, 1)
	go func() {
		var lines []string
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.HasPrefix(sc.Text(), prefix) {
				done <- lines
				io.Copy(io.Discard, r)
				return
			}
		}
		done <- nil
	}()
	select {
	case lines := <-done:
		if lines == nil {
			t.Fatalf("the program exited before printing %q", prefix)
		}
		return lines
	case <-time.After(60 * time.Second):
		t.Fatalf("the program did not print %q", prefix)
	}
	return nil
}
