//go:build linux

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/nflogr/telegraf-nflog/testutil"
)

// TestBuildScriptTelegrafDir runs the README's command for a user's own
// Telegraf checkout, scripts/build-telegraf.sh --telegraf-dir DIR
// --no-build, on a copy of Telegraf v1.37.2's source, and checks that it
// changes exactly the files the README and the script's usage list (the
// plugin's files, plugins/inputs/all/nflog.go, go.mod, go.sum), that go.mod
// has the require and the replace, and that the tree then resolves
// cmd/telegraf with inputs.nflog in it. (make telegraf, the same script on
// a copy it makes itself, is built and run by TestE2EInTreeTelegraf.)
func TestBuildScriptTelegrafDir(t *testing.T) {
	if testing.Short() {
		t.Skip("copies Telegraf's source; skipped with -short")
	}
	testutil.RequireTools(t, "go", "bash", "cp")
	section := readmeSection(t, inTreeHeading)
	const cmdline = "scripts/build-telegraf.sh --telegraf-dir ~/src/telegraf"
	if !strings.Contains(section, "`"+cmdline+"`") || !strings.Contains(section, "`--no-build`") {
		t.Fatalf("README.md section %q no longer shows `%s` and `--no-build`", inTreeHeading, cmdline)
	}

	out, err := exec.Command("go", "mod", "download", "-json", "github.com/influxdata/telegraf@v"+telegrafVersion).Output()
	if err != nil {
		t.Fatalf("go mod download: %v", err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download -json: %v: %s", err, out)
	}
	tree := filepath.Join(t.TempDir(), "telegraf")
	if out, err := exec.Command("cp", "-R", mod.Dir, tree).CombinedOutput(); err != nil {
		t.Fatalf("copying Telegraf's source: %v\n%s", err, out)
	}
	if out, err := exec.Command("chmod", "-R", "u+w", tree).CombinedOutput(); err != nil {
		t.Fatalf("chmod: %v\n%s", err, out)
	}

	cmd := exec.Command("bash", "scripts/build-telegraf.sh", "--telegraf-dir", tree, "--no-build")
	cmd.Dir = repoRoot
	got, err := cmd.CombinedOutput()
	t.Logf("%s", got)
	if err != nil {
		t.Fatalf("build-telegraf.sh --telegraf-dir: %v", err)
	}

	// Exactly these files differ from the release.
	var changed []string
	err = filepath.Walk(tree, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(tree, p)
		now, _ := os.ReadFile(p)
		orig, err := os.ReadFile(filepath.Join(mod.Dir, rel))
		if err != nil || string(orig) != string(now) {
			changed = append(changed, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	entries, err := os.ReadDir(filepath.Join(repoRoot, "plugins/inputs/nflog"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		n := e.Name()
		if (strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go")) || n == "README.md" || n == "sample.conf" {
			want = append(want, "plugins/inputs/nflog/"+n)
		}
	}
	want = append(want, "plugins/inputs/all/nflog.go", "go.mod", "go.sum")
	sort.Strings(want)
	sort.Strings(changed)
	if !slices.Equal(changed, want) {
		t.Errorf("the script changed\n%v\nwant exactly\n%v", changed, want)
	}

	gomod := readFile(t, filepath.Join(tree, "go.mod"))
	repo, _ := filepath.Abs(repoRoot)
	for _, w := range []string{
		"\ngo 1.26",
		"github.com/nflogr/telegraf-nflog v0.0.0",
		"replace github.com/nflogr/telegraf-nflog => " + repo,
	} {
		if !strings.Contains(gomod, w) {
			t.Errorf("go.mod has no %q", w)
		}
	}
	if all := readFile(t, filepath.Join(tree, "plugins/inputs/all/nflog.go")); !strings.HasPrefix(all, "//go:build !custom || inputs || inputs.nflog\n") {
		t.Errorf("plugins/inputs/all/nflog.go:\n%s", all)
	}

	// The changed tree resolves (go.mod and go.sum complete) and has the
	// plugin under Telegraf's custom build tags.
	list := exec.Command("go", "list", "-deps", "-tags", "custom,inputs.nflog", "./cmd/telegraf")
	list.Dir = tree
	list.Env = append(os.Environ(), "GOFLAGS=-mod=readonly")
	deps, err := list.CombinedOutput()
	if err != nil {
		t.Fatalf("go list in the changed tree: %v\n%s", err, deps)
	}
	for _, p := range []string{"github.com/influxdata/telegraf/plugins/inputs/nflog", "github.com/nflogr/telegraf-nflog/nflog"} {
		if !slices.Contains(strings.Fields(string(deps)), p) {
			t.Errorf("cmd/telegraf with tags custom,inputs.nflog does not import %s", p)
		}
	}
}
