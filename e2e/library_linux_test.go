//go:build linux

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nflogr/telegraf-nflog/testutil"
)

const (
	libraryHeading = "## The `nflog` library"
	// The README's clone URL, replaced by this checkout (the test clones
	// what is committed, as a user would clone what is published).
	cloneURL = "https://github.com/nflogr/telegraf-nflog.git"
	// The comment line of the README's commands where main.go is saved.
	saveLine = "# Save the program below as main.go, then:"
)

// TestLibraryFromAnotherModule runs the README's commands for using the
// library from another module, in a temporary directory outside the tree:
// git clone (of this checkout), a new module with a replace directive, the
// README's main.go, go mod tidy, go run on the shipped capture. The program
// must print the README's output.
func TestLibraryFromAnotherModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module outside the tree; skipped with -short")
	}
	testutil.RequireTools(t, "git", "go", "bash")
	section := readmeSection(t, libraryHeading)
	blocks := codeBlocks(section, "sh")
	if len(blocks) == 0 {
		t.Fatalf("README.md section %q shows no commands", libraryHeading)
	}
	script := blocks[0]
	var program string
	for _, b := range codeBlocks(section, "go") {
		if strings.HasPrefix(b, "// Reads an NFLOG capture") {
			program = b
		}
	}
	if program == "" || !strings.Contains(script, saveLine) || !strings.Contains(script, cloneURL) {
		t.Fatalf("README.md section %q: want commands with %q and %q and a main.go starting \"// Reads an NFLOG capture\"",
			libraryHeading, cloneURL, saveLine)
	}
	wantOut := codeBlocks(section, "text")[0]
	if !strings.Contains(section, "go get github.com/nflogr/telegraf-nflog/nflog@latest") {
		t.Errorf("README.md section %q no longer says what works once the module is published", libraryHeading)
	}

	repo, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	// The directory git names after the URL.
	script = strings.Replace(script, cloneURL, repo+" telegraf-nflog", 1)
	script = strings.Replace(script, saveLine, "cat >main.go <<'EOF'\n"+program+"EOF", 1)

	dir := t.TempDir() // outside the tree: no go.mod above it
	cmd := exec.Command("bash", "-euxo", "pipefail", "-c", script)
	cmd.Dir = dir
	// A fresh module: nothing of this module's environment applies.
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the README's commands failed: %v\n%s\n%s", err, stderr.String(), stdout.String())
	}
	t.Logf("the README's commands:\n%s", stderr.String())
	if got := stdout.String(); got != wantOut {
		t.Errorf("the program printed\n%s\nthe README shows\n%s", got, wantOut)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "hello", "go.mod")); err != nil || !strings.Contains(string(b), "replace github.com/nflogr/telegraf-nflog => ../telegraf-nflog") {
		t.Errorf("hello/go.mod (%v) has no replace directive to the clone:\n%s", err, b)
	}
}
