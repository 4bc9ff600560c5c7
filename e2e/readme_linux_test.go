//go:build linux

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's install paths are run by the tests as written: each command
// of their sh blocks is run (make, install, setcap, iptables, setpriv,
// traffic, curl), with only the paths and addresses of the test replaced,
// and a command the tests do not know fails them, so that the README
// cannot show a command that no test runs.

const readmePath = repoRoot + "/README.md"

// readmeSection returns the README's section under heading (a whole line,
// such as "### Telegraf with ..."), up to the next heading of its level or
// higher outside code blocks.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	level := strings.IndexByte(heading, ' ')
	var out []string
	in, fence := false, false
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "```") {
			fence = !fence
		}
		if !fence && strings.HasPrefix(l, "#") {
			if n := strings.IndexByte(l, ' '); n > 0 && strings.Trim(l[:n], "#") == "" {
				if l == heading {
					in = true
					continue
				}
				if in && n <= level {
					break
				}
			}
		}
		if in {
			out = append(out, l)
		}
	}
	if !in {
		t.Fatalf("README.md has no heading %q: the test runs the commands of that section", heading)
	}
	return strings.Join(out, "\n")
}

// codeBlocks returns the bodies of the section's fenced blocks of lang.
func codeBlocks(section, lang string) []string {
	var out []string
	for _, m := range regexp.MustCompile("(?s)```"+regexp.QuoteMeta(lang)+"\n(.*?)```").FindAllStringSubmatch(section, -1) {
		out = append(out, m[1])
	}
	return out
}

// onlyBlock returns the one block of lang in section, failing otherwise.
func onlyBlock(t *testing.T, section, heading, lang string) string {
	t.Helper()
	b := codeBlocks(section, lang)
	if len(b) != 1 {
		t.Fatalf("README.md section %q has %d %s blocks, want 1 (the test runs it)", heading, len(b), lang)
	}
	return b[0]
}

// shellCommands returns the commands of an sh block: its lines without
// comment lines and without a trailing "  # comment".
func shellCommands(block string) []string {
	var out []string
	for _, l := range strings.Split(block, "\n") {
		l = strings.TrimSpace(l)
		if i := strings.Index(l, "  #"); i >= 0 {
			l = strings.TrimSpace(l[:i])
		}
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// replacer replaces the README's paths and addresses with the test's.
type replacer []struct{ old, new string }

func (r replacer) apply(s string) string {
	for _, p := range r {
		s = strings.ReplaceAll(s, p.old, p.new)
	}
	return s
}

// mustApply applies r to a file the README shows, failing if one of its
// strings is not there exactly once (the test depends on each).
func (r replacer) mustApply(t *testing.T, what, s string) string {
	t.Helper()
	for _, p := range r {
		if n := strings.Count(s, p.old); n != 1 {
			t.Fatalf("%s holds %q %d times, want once: the test adapts it through that string", what, p.old, n)
		}
		s = strings.Replace(s, p.old, p.new, 1)
	}
	return s
}

// runInRepo runs a README command with bash in the repository's root.
func runInRepo(t *testing.T, command string) {
	t.Helper()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", command)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("README command %q: %v\n%s", command, err, out)
	}
	t.Logf("ran README command %q", command)
}

// stockInstall is what the README's execd path installed.
type stockInstall struct {
	telegraf, plugin, pluginConf string
}

const stockHeading = "### A stock Telegraf, through execd"

// runReadmeStock runs the commands of the README's execd path, with
// /usr/local/bin and /etc/telegraf-nflog replaced by the test's directory.
func runReadmeStock(t *testing.T, s *stack) stockInstall {
	t.Helper()
	section := readmeSection(t, stockHeading)
	r := replacer{{"/usr/local/bin/", s.dir + "/"}, {"/etc/telegraf-nflog/", s.dir + "/"}}
	in := stockInstall{
		plugin:     filepath.Join(s.dir, "telegraf-nflog"),
		pluginConf: filepath.Join(s.dir, "plugin.conf"),
	}
	for _, c := range shellCommands(onlyBlock(t, section, stockHeading, "sh")) {
		switch f := strings.Fields(c); {
		case c == "make telegraf-stock":
			in.telegraf = buildTelegraf(t, s.dir)
		case f[0] == "make" && len(f) == 2:
			makeTarget(t, f[1])
		case f[0] == "install" || f[0] == "setcap":
			runInRepo(t, r.apply(c))
		default:
			t.Fatalf("README.md section %q shows %q, which no test runs: teach runReadmeStock to run it", stockHeading, c)
		}
	}
	for _, p := range []string{in.telegraf, in.plugin, in.pluginConf} {
		if p == "" {
			t.Fatalf("README.md section %q no longer builds Telegraf with make telegraf-stock", stockHeading)
		}
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("after the commands of README.md section %q: %v", stockHeading, err)
		}
	}
	return in
}
