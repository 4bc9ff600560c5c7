package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	nftest "github.com/nflogr/telegraf-nflog/testutil"
)

// fakeAptGet is an apt-get that records its arguments and, on install,
// what a package's maintainer script would get from policy-rc.d when it
// starts its service ("invoke-rc.d influxdb start" asks it first).
const fakeAptGet = `#!/bin/sh
echo "$*" >>"$LOG"
if [ "$1" = install ]; then
	if [ -x "$POLICY_RC_D" ]; then "$POLICY_RC_D" influxdb start; echo "policy-rc.d exit $?" >>"$LOG"; else echo "no policy-rc.d" >>"$LOG"; fi
	exit "${FAIL:-0}"
fi
`

type depsRun struct {
	dir, policy, log string
}

func newDepsRun(t *testing.T) *depsRun {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "apt-get"), []byte(fakeAptGet), 0o755))
	return &depsRun{dir: dir, policy: filepath.Join(dir, "policy-rc.d"), log: filepath.Join(dir, "log")}
}

func (r *depsRun) run(t *testing.T, tools string, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", "deps.sh", "test", tools, "influxdb prometheus")
	cmd.Env = append(os.Environ(), "APT_GET="+filepath.Join(r.dir, "apt-get"), "POLICY_RC_D="+r.policy, "LOG="+r.log)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (r *depsRun) logged(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(r.log)
	if os.IsNotExist(err) {
		return ""
	}
	require.NoError(t, err)
	return string(b)
}

// make deps installs with a policy-rc.d that forbids every service start
// (exit 101), without recommended packages, and leaves no policy-rc.d of
// its own behind: none when there was none, the old one otherwise, also
// when apt-get fails.
func TestDepsNoServiceStarts(t *testing.T) {
	const missing = "bash nflog-deps-test-no-such-tool"
	t.Run("no policy-rc.d before", func(t *testing.T) {
		r := newDepsRun(t)
		out, err := r.run(t, missing)
		require.NoError(t, err, out)
		require.Contains(t, out, "missing: nflog-deps-test-no-such-tool")
		require.Equal(t, "update -qq\ninstall -y -qq --no-install-recommends influxdb prometheus\npolicy-rc.d exit 101\n", r.logged(t))
		require.NoFileExists(t, r.policy)
	})
	t.Run("policy-rc.d restored", func(t *testing.T) {
		r := newDepsRun(t)
		const old = "#!/bin/sh\nexit 0\n"
		require.NoError(t, os.WriteFile(r.policy, []byte(old), 0o750))
		out, err := r.run(t, missing)
		require.NoError(t, err, out)
		require.Contains(t, r.logged(t), "policy-rc.d exit 101")
		b, err := os.ReadFile(r.policy)
		require.NoError(t, err)
		require.Equal(t, old, string(b))
		st, err := os.Stat(r.policy)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o750), st.Mode().Perm())
	})
	t.Run("apt-get fails", func(t *testing.T) {
		r := newDepsRun(t)
		out, err := r.run(t, missing, "FAIL=100")
		require.Error(t, err, out)
		require.Contains(t, r.logged(t), "policy-rc.d exit 101")
		require.NoFileExists(t, r.policy)
	})
	t.Run("nothing missing", func(t *testing.T) {
		r := newDepsRun(t)
		out, err := r.run(t, "bash sh")
		require.NoError(t, err, out)
		require.Empty(t, strings.TrimSpace(out))
		require.Empty(t, r.logged(t), "apt-get not run")
	})
}

// make help lists every target of .PHONY with its "##" comment: a target
// added without one fails here.
func TestMakeHelp(t *testing.T) {
	nftest.RequireTools(t, "make")
	mk, err := os.ReadFile("../Makefile")
	require.NoError(t, err)
	var phony []string
	for line := range strings.Lines(string(mk)) {
		if rest, ok := strings.CutPrefix(line, ".PHONY:"); ok {
			phony = append(phony, strings.Fields(rest)...)
		}
	}
	require.NotEmpty(t, phony)
	out, err := exec.Command("make", "-s", "-C", "..", "help").CombinedOutput()
	require.NoError(t, err, "%s", out)
	listed := map[string]string{}
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) > 0 {
			listed[f[0]] = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), f[0]))
		}
	}
	for _, target := range phony {
		require.NotEmpty(t, listed[target], "make help does not describe %q: give it a \"## %s: ...\" comment", target, target)
	}
	require.Contains(t, listed["deps"], "no service started")
}

// make demo (as root): the header shows every rule it adds, IPv6
// included, and the output holds the five packets and the statistics
// once.
func TestIntegrationDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("kernel test skipped in short mode")
	}
	nftest.RequireKernel(t)
	nftest.RequireTools(t, "iptables", "ip6tables", "bash", "timeout")
	cmd := exec.Command("bash", "demo.sh")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, out.String())
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("make demo did not end within 2 minutes:\n%s", out.String())
	}
	t.Log(out.String())
	var header, packets, stats, gauges int
	for line := range strings.Lines(out.String()) {
		switch {
		case strings.HasPrefix(line, "#   iptables -A") || strings.HasPrefix(line, "#   ip6tables -A"):
			header++
		case strings.HasPrefix(line, "nflog,"):
			packets++
		case strings.HasPrefix(line, "nflog_stats,group=5 ") && strings.Contains(line, "packets_received_total="):
			stats++
		case strings.HasPrefix(line, "nflog_stats,group=5 read_buffer_bytes="):
			gauges++
		}
	}
	require.Equal(t, 4, header, "the four rules: three iptables, one ip6tables")
	require.Contains(t, out.String(), `#   ip6tables -A OUTPUT -o lo -p udp -j NFLOG --nflog-prefix "ACCEPT:lan6" --nflog-group 5`)
	require.GreaterOrEqual(t, packets, 5)
	require.Equal(t, 1, stats, "the statistics once")
	require.Equal(t, 1, gauges)
	require.Contains(t, out.String(), "I! [inputs.nflog] Standard input closed, stopping")
}
