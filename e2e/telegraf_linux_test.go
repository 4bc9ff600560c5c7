//go:build linux

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nflogr/telegraf-nflog/testutil"
)

// The Telegraf binaries come from the Makefile targets the README tells
// users to run (make telegraf, make telegraf-stock: scripts/build-telegraf.sh),
// so that the tests and the users build them with one recipe. Each target is
// made once per test binary; a warm rebuild takes seconds, so a stale
// bin/telegraf is never used.
const (
	telegrafVersion = "1.37.2"
	repoRoot        = ".."
)

type made struct {
	once sync.Once
	out  string
	err  error
}

var makes sync.Map // target -> *made

// makeTarget runs `make target` in the repository (once per test binary)
// and fails the test, with the build's output, if it fails. There is no
// skip here: when the build fails, so does every test that needs it.
func makeTarget(t *testing.T, target string) {
	t.Helper()
	testutil.RequireTools(t, "make", "go")
	v, _ := makes.LoadOrStore(target, &made{})
	m := v.(*made)
	m.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		start := time.Now()
		cmd := exec.CommandContext(ctx, "make", "--no-print-directory", target)
		cmd.Dir = repoRoot
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		m.err = cmd.Run()
		m.out = fmt.Sprintf("make %s (%v):\n%s", target, time.Since(start).Round(time.Second), out.String())
	})
	if m.err != nil {
		t.Fatalf("%s\nmake %s failed: %v", m.out, target, m.err)
	}
	t.Log(m.out)
}

// telegrafBinary makes target, checks the binary it wrote to bin/ (version
// and plugins) and copies it into dir, where user nobody can run it.
func telegrafBinary(t *testing.T, dir, target, name string, plugins ...string) string {
	t.Helper()
	makeTarget(t, target)
	src := filepath.Join(repoRoot, "bin", name)
	if err := checkTelegraf(src, plugins...); err != nil {
		t.Fatalf("make %s: %v", target, err)
	}
	dst := filepath.Join(dir, name)
	copyFile(t, src, dst, 0o755)
	return dst
}

// buildTelegraf returns the stock Telegraf of make telegraf-stock, with
// the plugins the execd path needs, copied into dir.
func buildTelegraf(t *testing.T, dir string) string {
	t.Helper()
	return telegrafBinary(t, dir, "telegraf-stock", "telegraf-stock",
		"inputs.execd", "outputs.influxdb", "outputs.prometheus_client", "outputs.file")
}

// inTreeTelegraf returns the Telegraf of make telegraf, with inputs.nflog
// compiled in, copied into dir.
func inTreeTelegraf(t *testing.T, dir string) string {
	t.Helper()
	return telegrafBinary(t, dir, "telegraf", "telegraf",
		"inputs.nflog", "outputs.influxdb", "outputs.prometheus_client", "outputs.file")
}

// checkTelegraf makes sure bin is the Telegraf we want: right version and
// every plugin the configuration uses.
func checkTelegraf(bin string, plugins ...string) error {
	if _, err := os.Stat(bin); err != nil {
		return err
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s --version: %v\n%s", bin, err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "Telegraf "+telegrafVersion {
		return fmt.Errorf("%s --version says %q, want %q", bin, got, "Telegraf "+telegrafVersion)
	}
	out, err = exec.Command(bin, "plugins").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s plugins: %v\n%s", bin, err, out)
	}
	have := strings.Fields(string(out))
	for _, p := range plugins {
		if !slices.Contains(have, p) {
			return fmt.Errorf("%s lacks plugin %s; it has %v", bin, p, have)
		}
	}
	return nil
}
