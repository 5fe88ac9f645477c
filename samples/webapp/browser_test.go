package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// TestBrowserSignIn builds the sample, starts it, and drives headless
// Chromium (Debian's chromium) through what a person does: sign in on the
// provider's page, consent, read the profile and its token metadata, call
// the Todo API, consent to a second scope on the way to adding a todo, and
// sign out. Screenshots of each step go to $IDWEB_SCREENSHOTS (default: a
// temporary directory, printed in the test log).
func TestBrowserSignIn(t *testing.T) {
	chromium := findChromium(t)
	bin := filepath.Join(t.TempDir(), "webapp")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "localhost:0")
	cmd.Env = append(os.Environ(), "REDIS_URL=")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	appURL := readURL(t, stdout)

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
		// The provider's certificate is self-signed and trusted only by the
		// sample; the browser talks to it on loopback only.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1100, 800),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
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
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		fail("screenshot "+name, err)
		fail("save "+name, os.WriteFile(filepath.Join(shots, fmt.Sprintf("%02d-%s.png", step, name)), png, 0o644))
	}
	alice := `button[data-username="` + identitywebtest.AliceUsername + `"]`

	do("open the app", chromedp.Navigate(appURL+"/"), chromedp.WaitVisible("#sign-in-button"))
	shot("home")
	do("sign in", chromedp.Click("#sign-in-button"), chromedp.WaitVisible(alice))
	shot("provider-sign-in")
	do("pick Alice", chromedp.Click(alice), chromedp.WaitVisible("#consent-accept"))
	shot("consent")
	do("consent", chromedp.Click("#consent-accept"), chromedp.WaitVisible("#greeting"))
	greeting, username, source := text("#greeting"), text("#username"), text("#md-source")
	shot("profile")
	do("todos", chromedp.Click("#nav-todos"), chromedp.WaitVisible("#todos"))
	shot("todos-empty")
	// Adding needs Todo.ReadWrite: the provider asks for consent on the way.
	do("add a todo", chromedp.Click("#nav-write"), chromedp.WaitVisible("#consent-accept"))
	shot("incremental-consent")
	do("consent again", chromedp.Click("#consent-accept"), chromedp.WaitVisible("#write-granted"))
	do("submit", chromedp.SetValue("#todo-text", "Ship identityweb for Go"), chromedp.Click("#todo-add"), chromedp.WaitVisible("#todos"))
	todos := text("#todos")
	shot("todos-added")
	do("sign out", chromedp.Click("#sign-out"), chromedp.WaitVisible("#sign-in-button"))
	home := text("main")
	shot("signed-out")
	if greeting != "Hello, Alice Example" || username != identitywebtest.AliceUsername || source != "cache" {
		t.Fatalf("profile: %q %q %q", greeting, username, source)
	}
	if !strings.Contains(todos, "Ship identityweb for Go") {
		t.Fatalf("todos: %q", todos)
	}
	if strings.Contains(home, "You are signed in") {
		t.Fatal("still signed in after sign-out")
	}
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

func readURL(t *testing.T, r interface{ Read([]byte) (int, error) }) string {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		buf := make([]byte, 0, 4096)
		tmp := make([]byte, 512)
		for {
			n, err := r.Read(tmp)
			buf = append(buf, tmp[:n]...)
			for _, line := range strings.Split(string(buf), "\n") {
				if strings.HasPrefix(line, "Open ") {
					done <- strings.TrimSuffix(strings.TrimPrefix(line, "Open "), "/")
					return
				}
			}
			if err != nil {
				done <- ""
				return
			}
		}
	}()
	select {
	case u := <-done:
		if u == "" {
			t.Fatal("the sample exited before printing its URL")
		}
		return u
	case <-time.After(60 * time.Second):
		t.Fatal(errors.New("the sample did not print its URL"))
	}
	return ""
}
