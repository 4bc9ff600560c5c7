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

	"github.com/BurntSushi/toml"
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
			last := refusedWith(t, exec.Command("ip", args...))
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
	last := refusedWith(t, exec.Command(argv[0], argv[1:]...))
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
	return nftest.ReadUnit(t, unitFile)["Service"]
}

// Where the unit's files come from and go (see the install commands at the
// top of the unit): its Telegraf configuration is
// docs/systemd/telegraf-nflog.conf, installed as
// /etc/telegraf-nflog/telegraf.conf.
const (
	unitDocsDir        = "../../docs/systemd"
	unitTelegrafConf   = unitDocsDir + "/telegraf-nflog.conf"
	unitInstalledConf  = "/etc/telegraf-nflog/telegraf.conf"
	unitInstalledBin   = "/usr/local/bin/telegraf-nflog"
	unitInstalledAgent = "/usr/bin/telegraf"
)

// unitCommand returns the command line with which the unit runs the
// binary: its ExecStart= starts Telegraf with the configuration that
// docs/systemd/telegraf-nflog.conf is installed as, whose one
// [[inputs.execd]] starts the binary with its command, and execd's signal.
// Telegraf passes its ambient capabilities, user and no_new_privs on to
// the child unchanged, so the binary runs with exactly what the unit
// grants.
func unitCommand(t *testing.T) (argv []string, signal string) {
	t.Helper()
	exec, err := nftest.ReadUnit(t, unitFile).ExecStart()
	require.NoError(t, err)
	require.Equal(t, []string{unitInstalledAgent, "--config", unitInstalledConf}, exec,
		"the unit's ExecStart=: update unitCommand when it changes")
	var conf struct {
		Inputs struct {
			Execd []struct {
				Command []string `toml:"command"`
				Signal  string   `toml:"signal"`
			} `toml:"execd"`
		} `toml:"inputs"`
	}
	_, err = toml.DecodeFile(unitTelegrafConf, &conf)
	require.NoError(t, err)
	require.Len(t, conf.Inputs.Execd, 1)
	e := conf.Inputs.Execd[0]
	require.NotEmpty(t, e.Command)
	require.Equal(t, unitInstalledBin, e.Command[0])
	return e.Command, e.Signal
}

// verifyUnit writes the unit text to a file named name (verify needs the
// command to exist: the caller replaces it) and runs systemd-analyze
// verify on it. It returns what verify reported, which exits 0 on unknown
// keys and bad values and prints them, and the file's path.
func verifyUnit(t *testing.T, analyze, name, text string) (report, path string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return strings.TrimSpace(string(out)), path
}

// dropIn returns the [Service] lines of a "systemctl edit" snippet in
// text: the lines from "[Service]" on, each with prefix removed, up to the
// first that is not a directive.
func dropIn(t *testing.T, text, prefix string) string {
	t.Helper()
	_, rest, ok := strings.Cut(text, prefix+"[Service]\n")
	require.True(t, ok, "no %q[Service] snippet", prefix)
	lines := []string{"[Service]"}
	for line := range strings.Lines(rest) {
		line, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), prefix)
		if !ok || !strings.Contains(line, "=") {
			break
		}
		lines = append(lines, line)
	}
	require.Greater(t, len(lines), 1)
	return strings.Join(lines, "\n") + "\n"
}

// TestSystemdUnit checks the files under docs/systemd and the README's
// unit snippets: the directives the tests below reproduce, that
// systemd-analyze verify knows every directive and value of the unit and
// of the drop-ins the documents tell users to add, and that the unit's
// exposure is low. systemd-analyze works without a running systemd (the
// machines here have none); under CI its absence is a failure.
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
	// The execd command is one the binary accepts: -log-level none stops
	// it right after the flags are parsed, with exit code 2 either way,
	// but a flag it does not know reports that instead.
	argv, signal := unitCommand(t)
	require.Equal(t, "none", signal)
	var o options
	var stderr bytes.Buffer
	require.Equal(t, 2, runWith(&o, append(argv[1:], "-log-level", "none"), nil, io.Discard, &stderr))
	require.Contains(t, stderr.String(), "Invalid -log-level", "the unit's command line %q", argv)
	require.Equal(t, "/etc/telegraf-nflog/plugin.conf", o.config, "the plugin.conf the unit's install commands put there")

	nftest.RequireTools(t, "systemd-analyze")
	analyze, err := exec.LookPath("systemd-analyze")
	require.NoError(t, err)
	// The check sees mistakes: a misspelled key and a bad value.
	bad := "[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\nNoNewPrivilege=yes\nProtectSystem=bogus\n"
	got, _ := verifyUnit(t, analyze, "bad.service", bad)
	require.Contains(t, got, "Unknown key 'NoNewPrivilege'")
	require.Contains(t, got, "bogus")

	units, err := filepath.Glob(filepath.Join(unitDocsDir, "*.service"))
	require.NoError(t, err)
	require.NotEmpty(t, units)
	for _, unit := range units {
		b, err := os.ReadFile(unit)
		require.NoError(t, err)
		// verify needs an ExecStart whose command exists; the arguments stay.
		text := strings.ReplaceAll(string(b), "ExecStart="+unitInstalledAgent+" ", "ExecStart=/bin/true ")
		require.NotEqual(t, string(b), text, "%s: ExecStart= not found", unit)
		report, path := verifyUnit(t, analyze, filepath.Base(unit), text)
		require.Empty(t, report, "systemd-analyze verify %s", unit)

		out, err := exec.Command(analyze, "security", "--offline=true", "--threshold=20", path).CombinedOutput()
		require.NoError(t, err, "%s: exposure above 2.0:\n%s", unit, out)
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		t.Log(lines[len(lines)-1])
	}

	// The drop-ins for the main telegraf.service that the documents give:
	// the plugin README's capabilities, telegraf-nflog.conf's runtime
	// directory.
	readme, err := os.ReadFile("../../plugins/inputs/nflog/README.md")
	require.NoError(t, err)
	conf, err := os.ReadFile(unitTelegrafConf)
	require.NoError(t, err)
	for name, snippet := range map[string]string{
		"README.md":           dropIn(t, string(readme), ""),
		"telegraf-nflog.conf": dropIn(t, string(conf), "#   "),
	} {
		unit := "[Unit]\nDescription=drop-in of " + name + "\n" + snippet + "ExecStart=/bin/true\n"
		report, _ := verifyUnit(t, analyze, "telegraf.service", unit)
		require.Empty(t, report, "systemd-analyze verify of the drop-in in %s:\n%s", name, snippet)
	}
}

// TestIntegrationBinaryHardened runs the binary as the unit would, with
// everything derived from the unit's directives: its execd command line
// (unitCommand), the unit's user (nobody when User= does not exist here),
// exactly the capabilities of AmbientCapabilities= in the ambient and
// inheritable sets and of CapabilityBoundingSet= in the bounding set
// (setpriv), no_new_privs (NoNewPrivileges=), / and every other mount
// read-only (ProtectSystem=strict), a private /tmp (PrivateTmp=yes), no
// /home, /root or /run/user (ProtectHome=yes). It checks what the process
// ends up with, then that it reads real traffic through an NFLOG rule in a
// test namespace into metrics, and opens no socket of a family the unit
// does not allow.
func TestIntegrationBinaryHardened(t *testing.T) {
	s := newPrivSetup(t, "unshare", "mount", "sh", "awk")
	u := nftest.ReadUnit(t, unitFile)
	d := u["Service"]

	uid, gid := nobodyUID, nobodyUID
	if usr, err := user.Lookup(d["User"][0]); err == nil {
		uid, gid = usr.Uid, usr.Gid
	} else {
		t.Logf("User=%s does not exist here: running as nobody", d["User"][0])
	}
	if g := d["Group"]; len(g) > 0 {
		if grp, err := user.LookupGroup(g[0]); err == nil {
			gid = grp.Gid
		}
	}
	setpriv, err := u.SetprivArgs(uid, gid)
	require.NoError(t, err)
	ambient, err := u.Capabilities("AmbientCapabilities")
	require.NoError(t, err)
	bounding, err := u.Capabilities("CapabilityBoundingSet")
	require.NoError(t, err)
	require.Equal(t, []string{"net_admin"}, ambient, "the masks checked below")
	require.Equal(t, []string{"net_admin"}, bounding)

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
	if umask := d["UMask"]; len(umask) > 0 {
		script = append(script, "umask "+umask[0])
	}
	script = append(script, `exec setpriv "$@"`)

	// The unit's command line, with the installed paths mapped to the
	// test's copies.
	cmdline, _ := unitCommand(t)
	cmdline = append([]string{"/srv/telegraf-nflog"}, cmdline[1:]...)
	i := slices.Index(cmdline, "-config")
	require.Positive(t, i, "the unit's command names its configuration")
	cmdline[i+1] = "/srv/" + privConfFile

	argv := []string{"ip", "netns", "exec", s.ns.Name(), "unshare", "-m", "--propagation", "private",
		"sh", "-c", strings.Join(script, "\n"), "sh", s.dir}
	argv = append(argv, setpriv...)
	argv = append(append(argv, "--"), cmdline...)
	t.Logf("%q", argv)
	r := startCommand(t, argv...)
	require.Contains(t, r.waitReading(t), "read buffer 8388608 bytes")
	pid := r.cmd.Process.Pid

	st := procStatus(t, pid)
	require.Equal(t, strings.Repeat(uid+"\t", 3)+uid, st["Uid"])
	require.Equal(t, strings.Repeat(gid+"\t", 3)+gid, st["Gid"])
	require.Empty(t, st["Groups"])
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

// refusedWith runs cmd, a binary that must refuse to start: it exits 1
// within 10 s, writes nothing to stdout and only level-prefixed lines to
// stderr, the last of them the error, which it returns.
func refusedWith(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
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
	return last
}
