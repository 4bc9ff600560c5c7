package testutil

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// InCI reports whether the tests run in continuous integration, i.e. the
// environment variable CI is "true" (as set by GitHub Actions, GitLab CI and
// most other CI systems; "1" is accepted too). In CI, a missing prerequisite
// is an error in the job definition, not a reason to skip.
func InCI() bool {
	v := strings.TrimSpace(os.Getenv("CI"))
	return strings.EqualFold(v, "true") || v == "1"
}

// missing reports an unmet prerequisite: it fails the test in CI and skips it
// elsewhere.
func missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		tb.Fatalf("prerequisite missing (CI=true, so this is a failure, not a skip): %s", msg)
		return
	}
	tb.Skipf("prerequisite missing: %s", msg)
}

// Capability bits from linux/capability.h.
const (
	capNetAdmin = 12
	capSysAdmin = 21
)

// RequireRoot makes sure the test can create network namespaces and
// configure netfilter: it needs effective UID 0, or at least the effective
// capabilities CAP_NET_ADMIN and CAP_SYS_ADMIN (the latter for the bind
// mounts "ip netns" makes). Otherwise the test is skipped, or failed in CI.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if caps, ok := effectiveCaps(); ok && caps&(1<<capNetAdmin) != 0 && caps&(1<<capSysAdmin) != 0 {
		return
	}
	missing(tb, "test needs root (euid 0), or the capabilities CAP_NET_ADMIN and CAP_SYS_ADMIN; "+
		"current euid is %d. Run e.g. `go test -exec sudo ./...`", os.Geteuid())
}

// effectiveCaps returns the CapEff mask of the current process.
func effectiveCaps() (uint64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return caps, err == nil
		}
	}
	return 0, false
}

// toolPackages maps the tools the kernel tests use to the Debian/Ubuntu
// package that provides them, so the failure message can say exactly what to
// install.
var toolPackages = map[string]string{
	"iptables":   "iptables",
	"ip6tables":  "iptables",
	"nft":        "nftables",
	"ip":         "iproute2",
	"bridge":     "iproute2",
	"setpriv":    "util-linux",
	"tcpdump":    "tcpdump",
	"setcap":     "libcap2-bin",
	"bash":       "bash",
	"cat":        "coreutils",
	"timeout":    "coreutils",
	"influxd":    "influxdb",
	"promtool":   "prometheus",
	"prometheus": "prometheus",
	"make":       "make",
	// Runs without a running systemd (verify, security --offline).
	"systemd-analyze": "systemd",
}

// RequireTools checks with exec.LookPath that every named tool is on PATH.
// If any is missing the test is skipped (failed in CI) with a message that
// names each missing tool and the apt-get command that installs it.
func RequireTools(tb testing.TB, tools ...string) {
	tb.Helper()
	var msgs []string
	var pkgs []string
	seen := map[string]bool{}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err == nil {
			continue
		}
		pkg, ok := toolPackages[tool]
		if !ok {
			msgs = append(msgs, fmt.Sprintf("tool %q not found in PATH (install the package that provides it)", tool))
			continue
		}
		msgs = append(msgs, fmt.Sprintf("tool %q not found in PATH (apt-get install %s)", tool, pkg))
		if !seen[pkg] {
			seen[pkg] = true
			pkgs = append(pkgs, pkg)
		}
	}
	if len(msgs) == 0 {
		return
	}
	msg := strings.Join(msgs, "; ")
	if len(pkgs) > 0 {
		msg += "; to install everything missing: apt-get install " + strings.Join(pkgs, " ")
	}
	missing(tb, "%s", msg)
}

// RequireKernel is the common prerequisite of every kernel test: root and
// the "ip" tool (iproute2) that manages the namespaces.
func RequireKernel(tb testing.TB) {
	tb.Helper()
	RequireRoot(tb)
	RequireTools(tb, "ip")
}
