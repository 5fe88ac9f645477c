package oidcprovidertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// minNodeMajor is the oldest Node.js major version oidc-provider 9 runs on.
const minNodeMajor = 20

// sourceDir returns this package's folder, where server.js, package.json and
// package-lock.json are (and node_modules goes).
func sourceDir(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	dir := filepath.Dir(file)
	if _, err := os.Stat(filepath.Join(dir, "server.js")); !ok || err != nil {
		t.Fatalf("oidcprovidertest: server.js not found next to the package source (%s): run the tests from a source checkout, without -trimpath", dir)
	}
	return dir
}

var tools struct {
	once      sync.Once
	node, npm string
	problem   string
}

// lookTools finds node and npm, and checks node's version. A missing or
// too old tool skips the test on a developer machine and fails it in CI.
func lookTools(t testing.TB) (node, npm string) {
	t.Helper()
	tools.once.Do(func() {
		var err error
		if tools.node, err = exec.LookPath("node"); err != nil {
			tools.problem = "node not found on PATH"
			return
		}
		if tools.npm, err = exec.LookPath("npm"); err != nil {
			tools.problem = "npm not found on PATH"
			return
		}
		out, err := exec.Command(tools.node, "--version").Output()
		if err != nil {
			tools.problem = fmt.Sprintf("node --version: %v", err)
			return
		}
		v := strings.TrimSpace(string(out))
		major, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(v, "v"), ".", 2)[0])
		if major < minNodeMajor {
			tools.problem = fmt.Sprintf("node %s is too old: oidc-provider 9 needs Node.js %d or later", v, minNodeMajor)
		}
	})
	if tools.problem != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("oidcprovidertest: %s and CI is set: install Node.js and npm (apt-get install nodejs npm)", tools.problem)
		}
		t.Skipf("oidcprovidertest: %s; install Node.js %d+ and npm to run this test", tools.problem, minNodeMajor)
	}
	return tools.node, tools.npm
}

var installMu sync.Mutex

// ensureModules runs `npm ci` in dir when node_modules is missing or does
// not hold the locked oidc-provider version. A file lock keeps parallel test
// binaries from installing at once; the output is shown only on failure.
func ensureModules(t testing.TB, dir, npm string) {
	t.Helper()
	installMu.Lock()
	defer installMu.Unlock()
	if modulesCurrent(dir) {
		return
	}
	unlock, err := lockFile(filepath.Join(dir, "node_modules.lock"), 10*time.Minute)
	if err != nil {
		t.Fatalf("oidcprovidertest: %v", err)
	}
	defer unlock()
	if modulesCurrent(dir) { // another test binary installed them meanwhile
		return
	}
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("oidcprovidertest: npm ci in %s failed: %v\n%s", dir, err, out.String())
	}
	if !modulesCurrent(dir) {
		t.Fatalf("oidcprovidertest: npm ci in %s did not install the locked oidc-provider\n%s", dir, out.String())
	}
}

// modulesCurrent reports whether node_modules holds the oidc-provider
// version package-lock.json locks.
func modulesCurrent(dir string) bool {
	var lock struct {
		Packages map[string]struct{ Version string } `json:"packages"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil || json.Unmarshal(b, &lock) != nil {
		return false
	}
	want := lock.Packages["node_modules/oidc-provider"].Version
	var got struct{ Version string }
	b, err = os.ReadFile(filepath.Join(dir, "node_modules", "oidc-provider", "package.json"))
	if err != nil || json.Unmarshal(b, &got) != nil {
		return false
	}
	return want != "" && got.Version == want
}
