//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	nftest "github.com/nflogr/telegraf-nflog/testutil"
)

// Least privilege: the binary needs CAP_NET_ADMIN and nothing else. These
// tests run it as nobody inside a test namespace ("ip netns exec", so the
// plugin's netns option stays unset: setns would need CAP_SYS_ADMIN),
// with the capability from a file capability, from the ambient set under
// the restrictions of docs/systemd/telegraf-nflog.service, and without it.

const (
	unitFile     = "../../docs/systemd/telegraf-nflog.service"
	capNetAdmin  = 1 << 12 // CAP_NET_ADMIN in /proc/PID/status bitmaps
	nobodyUID    = "65534"
	privConfFile = "plugin.conf"
)

// privSetup is a directory that nobody can read, holding a copy of the
// binary and a configuration without netns, and a namespace that logs UDP
// to port 9 to testGroup.
type privSetup struct {
	ns       *nftest.NetNS
	dir, bin string
}

func newPrivSetup(t *testing.T, tools ...string) *privSetup {
	t.Helper()
	if testing.Short() {
		t.Skip("kernel test skipped in short mode")
	}
	nftest.RequireTools(t, append([]string{"iptables", "setpriv"}, tools...)...)
	ns := nftest.NewNetNS(t)
	ns.Iptables(t, "-A", "INPUT", "-p", "udp", "--dport", "9", "-j", "NFLOG",
		"--nflog-group", strconv.Itoa(testGroup), "--nflog-prefix", "DROP:lo")

	dir := t.TempDir()
	// t.TempDir makes both levels 0700, which nobody cannot enter.
	for _, d := range []string{filepath.Dir(dir), dir} {
		require.NoError(t, os.Chmod(d, 0o755))
	}
	bin := filepath.Join(dir, "telegraf-nflog")
	data, err := os.ReadFile(binary(t))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, data, 0o755))
	conf := fmt.Sprintf("[[inputs.nflog]]\n  groups = [%d]\n  flush_timeout = \"0s\"\n  queue_threshold = 1\n", testGroup)
	require.NoError(t, os.WriteFile(filepath.Join(dir, privConfFile), []byte(conf), 0o644))
	return &privSetup{ns: ns, dir: dir, bin: bin}
}

// nobody returns the arguments of setpriv that switch to nobody.
func nobody() []string {
	return []string{"--reuid=" + nobodyUID, "--regid=" + nobodyUID, "--clear-groups"}
}

// procStatus returns the fields of /proc/PID/status.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	out := make(map[string]string)
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

func capMask(t *testing.T, hex string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(hex, 16, 64)
	require.NoError(t, err)
	return v
}

// runningBinary is the binary started through a command line that ends by
// exec'ing it, so that the process id is the binary's.
type runningBinary struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout <-chan string
	stderr <-chan string
	log    []string
}

func startCommand(t *testing.T, argv ...string) *runningBinary {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return &runningBinary{cmd: cmd, stdin: stdin, stdout: lineReader(stdout), stderr: lineReader(stderr)}
}

// waitReading waits for the line saying that the group is bound.
func (r *runningBinary) waitReading(t *testing.T) string {
	t.Helper()
	r.log = waitFor(t, r.stderr, 10*time.Second, func(l string) bool {
		return strings.HasPrefix(l, "I! [inputs.nflog] Reading NFLOG groups")
	})
	return r.log[len(r.log)-1]
}

// requirePackets sends count datagrams and requires count metrics.
func (r *runningBinary) requirePackets(t *testing.T, ns *nftest.NetNS, count int) {
	t.Helper()
	nftest.SendUDP(t, ns, "127.0.0.1:9", []byte("least privilege"), count)
	var lines []string
	waitFor(t, r.stdout, 10*time.Second, func(l string) bool {
		if strings.HasPrefix(l, "nflog,") {
			lines = append(lines, l)
		}
		return len(lines) == count
	})
	for _, m := range parseLines(t, strings.Join(lines, "\n")) {
		require.Equal(t, map[string]string{"prefix": "DROP:lo", "indev": "lo", "proto": "ipv4"}, m.Tags())
		v, _ := m.GetField("len")
		require.Equal(t, int64(20+8+15), v)
	}
}

// stop closes stdin and requires a clean exit, with only level-prefixed
// lines on stderr.
func (r *runningBinary) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, r.stdin.Close())
	require.Equal(t, 0, exitWithin(t, r.cmd, 5*time.Second))
	lines := r.log
	for l := range r.stderr {
		lines = append(lines, l)
	}
	requireLevelLines(t, strings.Join(lines, "\n")+"\n")
	for _, l := range lines {
		require.False(t, strings.HasPrefix(l, "W! ") || strings.HasPrefix(l, "E! "), "unexpected: %s", l)
	}
}

// TestIntegrationBinaryFileCapabilityAsNobody: "setcap cap_net_admin+ep"
// on the binary is all that nobody needs to read packets, with the
// configured 8 MiB receive buffer granted too (SO_RCVBUFFORCE).
func TestIntegrationBinaryFileCapabilityAsNobody(t *testing.T) {
	s := newPrivSetup(t, "setcap", "getcap")
	out, err := exec.Command("setcap", "cap_net_admin+ep", s.bin).CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command("getcap", s.bin).CombinedOutput()
	require.NoError(t, err)
	require.Contains(t, string(out), "cap_net_admin=ep")

	argv := append([]string{"ip", "netns", "exec", s.ns.Name(), "setpriv"}, nobody()...)
	r := startCommand(t, append(argv, "--", s.bin, "-config", filepath.Join(s.dir, privConfFile), "-poll-interval-disabled")...)
	require.Contains(t, r.waitReading(t), "read buffer 8388608 bytes")

	st := procStatus(t, r.cmd.Process.Pid)
	require.Equal(t, strings.Repeat(nobodyUID+"\t", 3)+nobodyUID, st["Uid"])
	require.Equal(t, uint64(capNetAdmin), capMask(t, st["CapEff"]), "only CAP_NET_ADMIN")
	require.Equal(t, uint64(capNetAdmin), capMask(t, st["CapPrm"]))
	r.requirePackets(t, s.ns, 5)
	r.stop(t)
}

// TestIntegrationBinaryWithoutCapability: without CAP_NET_ADMIN the binary
// exits non-zero, and its error names the capability and both ways of
// granting it. A file capability does not help under no_new_privs (as
// with systemd's NoNewPrivileges=yes): that case fails the same way.
func TestIntegrationBinaryWithoutCapability(t *testing.T) {
	s := newPrivSetup(t, "setcap")
	withCap := filepath.Join(s.dir, "telegraf-nflog-cap")
	data, err := os.ReadFile(s.bin)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(withCap, data, 0o755))
	out, err := exec.Command("setcap", "cap_net_admin+ep", withCap).CombinedOutput()
	require.NoError(t, err, "%s", out)

	conf := filepath.Join(s.dir, privConfFile)
	for _, tt := range []struct {
		name  string
		extra []string
		bin   string
	}{
		{"no capability", nil, s.bin},
		{"no capability, json", nil, s.bin},
		// A second setpriv, run as nobody without capabilities, sets
		// no_new_privs (it would keep the permitted set of the root that
		// runs the first one, and then the file capability would gain
		// nothing and be allowed).
		{"file capability under no_new_privs", []string{"setpriv", "--no-new-privs", "--"}, withCap},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"netns", "exec", s.ns.Name(), "setpriv"}, nobody()...), "--")
			args = append(append(args, tt.extra...), tt.bin, "-config", conf)
			if strings.HasSuffix(tt.name, "json") {
				args = append(args, "-format", "json")
			}
			cmd := exec.Command("ip", args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Start())
			code := exitWithin(t, cmd, 10*time.Second)
			t.Logf("exit %d, stderr:\n%s", code, stderr.String())
			require.Equal(t, 1, code)
			require.Empty(t, stdout.String())
			requireLevelLines(t, stderr.String())
			var last string
			for l := range strings.Lines(stderr.String()) {
				last = l
			}
			require.True(t, strings.HasPrefix(last, "E! "), "the last line is the error: %q", last)
			for _, want := range []string{"permission denied", "needs CAP_NET_ADMIN", "setcap cap_net_admin+ep", "AmbientCapabilities=CAP_NET_ADMIN"} {
				require.Contains(t, last, want)
			}
		})
	}
}

// TestIntegrationBinaryNetnsWithoutSysAdmin: netns pointing to another
// namespace needs CAP_SYS_ADMIN (setns). With CAP_NET_ADMIN only the binary
// exits non-zero, and the error says what to do: run as root, grant
// CAP_SYS_ADMIN too (setcap, or the unit's AmbientCapabilities), or start
// it in the namespace and leave netns empty.
func TestIntegrationBinaryNetnsWithoutSysAdmin(t *testing.T) {
	s := newPrivSetup(t)
	conf := filepath.Join(s.dir, "netns.conf")
	require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf("[[inputs.nflog]]\n  groups = [%d]\n  netns = %q\n", testGroup, s.ns.Path())), 0o644))
	argv := append([]string{"setpriv"}, nobody()...)
	argv = append(argv, "--inh-caps=-all,+net_admin", "--ambient-caps=-all,+net_admin", "--bounding-set=-all,+net_admin",
		"--", s.bin, "-config", conf)
	cmd := exec.Command(argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	code := exitWithin(t, cmd, 10*time.Second)
	t.Logf("exit %d, stderr:\n%s", code, stderr.String())
	require.Equal(t, 1, code)
	require.Empty(t, stdout.String())
	requireLevelLines(t, stderr.String())
	last := strings.TrimSpace(stderr.String())
	if i := strings.LastIndex(last, "\n"); i >= 0 {
		last = last[i+1:]
	}
	require.True(t, strings.HasPrefix(last, "E! "), "the last line is the error: %q", last)
	for _, want := range []string{
		fmt.Sprintf("netns = %q", s.ns.Path()), "permission denied", "needs CAP_SYS_ADMIN",
		"run as root", "setcap cap_net_admin,cap_sys_admin+ep", "AmbientCapabilities=CAP_NET_ADMIN CAP_SYS_ADMIN",
		"ip netns exec", "NetworkNamespacePath=", "leave it empty",
	} {
		require.Contains(t, last, want)
	}
}

// unitDirectives reads the [Service] section of the systemd unit: each
// key with its values in order.
func unitDirectives(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(unitFile)
	require.NoError(t, err)
	out := make(map[string][]string)
	section := ""
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = line
		case section == "[Service]":
			k, v, ok := strings.Cut(line, "=")
			require.True(t, ok, "not a directive: %q", line)
			out[k] = append(out[k], v)
		}
	}
	return out
}

// TestSystemdUnit checks the hardened unit: the directives the tests
// below reproduce, and, where systemd-analyze exists, that systemd knows
// every directive and rates the unit's exposure as low.
func TestSystemdUnit(t *testing.T) {
	d := unitDirectives(t)
	for k, v := range map[string]string{
		"User":                    "telegraf",
		"AmbientCapabilities":     "CAP_NET_ADMIN",
		"CapabilityBoundingSet":   "CAP_NET_ADMIN",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"RestrictAddressFamilies": "AF_NETLINK AF_UNIX",
	} {
		require.Equal(t, []string{v}, d[k], k)
	}
	// /proc/net must stay visible: the reader names the holder of a busy
	// group from /proc/net/netfilter/nfnetlink_log.
	require.NotContains(t, d, "ProcSubset")

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed: the unit is not verified")
	}
	// verify needs an ExecStart that exists; it reports unknown keys and
	// bad values on stderr and still exits 0.
	b, err := os.ReadFile(unitFile)
	require.NoError(t, err)
	var fixed []string
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, "ExecStart=") {
			line = "ExecStart=/bin/true\n"
		}
		fixed = append(fixed, line)
	}
	copyPath := filepath.Join(t.TempDir(), "telegraf-nflog.service")
	require.NoError(t, os.WriteFile(copyPath, []byte(strings.Join(fixed, "")), 0o644))
	out, err := exec.Command(analyze, "verify", copyPath).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify")

	out, err = exec.Command(analyze, "security", "--offline=true", "--threshold=20", copyPath).CombinedOutput()
	require.NoError(t, err, "exposure above 2.0:\n%s", out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	t.Log(lines[len(lines)-1])
}

// TestIntegrationBinaryHardened runs the binary as the unit would: as
// nobody (the unit's User=telegraf does not exist here), with
// CAP_NET_ADMIN as its only capability, in the ambient set and the
// bounding set, no_new_privs, / and every other mount read-only
// (ProtectSystem=strict), a private /tmp (PrivateTmp=yes), no /home,
// /root or /run/user (ProtectHome=yes). The arguments are derived from the
// unit's directives, and the test checks what the process ends up with,
// then that it reads packets and opens no socket of a family the unit
// does not allow.
func TestIntegrationBinaryHardened(t *testing.T) {
	s := newPrivSetup(t, "unshare", "mount", "sh", "awk")
	d := unitDirectives(t)
	require.Equal(t, []string{"CAP_NET_ADMIN"}, d["AmbientCapabilities"])
	require.Equal(t, []string{"CAP_NET_ADMIN"}, d["CapabilityBoundingSet"])

	uid, gid := nobodyUID, nobodyUID
	if u, err := user.Lookup(d["User"][0]); err == nil {
		uid, gid = u.Uid, u.Gid
	}
	var setpriv []string
	setpriv = append(setpriv, "--reuid="+uid, "--regid="+gid, "--clear-groups")
	setpriv = append(setpriv, "--inh-caps=-all,+net_admin", "--ambient-caps=-all,+net_admin", "--bounding-set=-all,+net_admin")
	if d["NoNewPrivileges"][0] == "yes" {
		setpriv = append(setpriv, "--no-new-privs")
	}
	var script []string
	script = append(script, "set -e",
		// The binary's directory, out of the /tmp that PrivateTmp hides.
		`mount --bind "$1" /srv`, "shift")
	if d["PrivateTmp"][0] == "yes" {
		script = append(script, "mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp",
			"mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /var/tmp")
	}
	if d["ProtectHome"][0] == "yes" {
		script = append(script, `for d in /home /root /run/user; do if [ -d "$d" ]; then mount -t tmpfs -o ro,mode=000 tmpfs "$d"; fi; done`)
	}
	if d["ProtectSystem"][0] == "strict" {
		script = append(script, `awk '{print $5}' /proc/self/mountinfo | while read -r m; do
  case "$m" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|/tmp|/var/tmp) continue;; esac
  mount -o remount,bind,ro "$m" 2>/dev/null || true
done`)
	}
	script = append(script, `exec setpriv "$@"`)
	argv := []string{"ip", "netns", "exec", s.ns.Name(), "unshare", "-m", "--propagation", "private",
		"sh", "-c", strings.Join(script, "\n"), "sh", s.dir}
	argv = append(argv, setpriv...)
	argv = append(argv, "--", "/srv/telegraf-nflog", "-config", "/srv/"+privConfFile, "-poll-interval-disabled")
	r := startCommand(t, argv...)
	require.Contains(t, r.waitReading(t), "read buffer 8388608 bytes")
	pid := r.cmd.Process.Pid

	st := procStatus(t, pid)
	require.Equal(t, strings.Repeat(uid+"\t", 3)+uid, st["Uid"])
	require.Equal(t, "1", st["NoNewPrivs"])
	for _, k := range []string{"CapEff", "CapPrm", "CapAmb", "CapBnd", "CapInh"} {
		require.Equal(t, uint64(capNetAdmin), capMask(t, st[k]), k)
	}

	// The mounts as the process sees them.
	mounts := make(map[string][]string) // mount point -> options, filesystem
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	require.NoError(t, err)
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		mounts[f[4]] = []string{f[5], f[sep+1]}
	}
	for _, m := range []string{"/", "/srv"} {
		require.Contains(t, strings.Split(mounts[m][0], ","), "ro", "%s is not read-only: %v", m, mounts[m])
	}
	if d["PrivateTmp"][0] == "yes" {
		require.Equal(t, []string{"rw", "tmpfs"}, []string{strings.Split(mounts["/tmp"][0], ",")[0], mounts["/tmp"][1]})
	}
	if _, err := os.Stat("/root"); err == nil {
		require.Equal(t, "tmpfs", mounts["/root"][1])
	}

	r.requirePackets(t, s.ns, 5)
	requireSocketFamilies(t, pid, d["RestrictAddressFamilies"][0])
	r.stop(t)
}

// requireSocketFamilies requires every socket the process holds to be of
// one of the families listed ("AF_NETLINK AF_UNIX"), looking its inode up
// in /proc/PID/net/netlink and /proc/PID/net/unix.
func requireSocketFamilies(t *testing.T, pid int, allowed string) {
	t.Helper()
	inodes := make(map[string]string)
	for family, file := range map[string]string{"AF_NETLINK": "netlink", "AF_UNIX": "unix"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, file))
		require.NoError(t, err)
		for line := range strings.Lines(string(b)) {
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			// The inode is the last column of netlink and the 7th of unix.
			ino := f[len(f)-1]
			if file == "unix" && len(f) >= 7 {
				ino = f[6]
			}
			inodes[ino] = family
		}
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	require.NoError(t, err)
	sockets := 0
	for _, e := range ents {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
		if err != nil || !strings.HasPrefix(link, "socket:[") {
			continue
		}
		sockets++
		ino := strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")
		family, ok := inodes[ino]
		require.True(t, ok, "fd %s: socket %s is neither netlink nor unix", e.Name(), ino)
		require.Contains(t, strings.Fields(allowed), family)
	}
	require.Positive(t, sockets, "no socket found: the check would prove nothing")
}
