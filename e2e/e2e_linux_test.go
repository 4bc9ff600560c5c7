//go:build linux

// Package e2e runs the execd binary the way users deploy it: under a stock
// Telegraf, as an unprivileged user whose only privilege is the file
// capability cap_net_admin on our binary, with its metrics written to a real
// InfluxDB and to Telegraf's Prometheus endpoint. See README.md.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nflogr/telegraf-nflog/testutil"
)

const (
	nflogGroup  = 7
	nflogPrefix = "e2e:test"
	ruleComment = "nflog-e2e"
	nPackets    = 40
	payloadLen  = 32
	ipLen       = 20 + 8 + payloadLen // IPv4 header + UDP header + payload

	capNetAdmin = 12 // linux/capability.h

	// Bounds of every wait.
	buildTimeout  = 20 * time.Minute
	startTimeout  = 30 * time.Second
	resultTimeout = 30 * time.Second
	settleTime    = 3 * time.Second // three flush intervals
	stopTimeout   = 10 * time.Second
)

// TestE2EStockTelegraf runs, inside a fresh network namespace, the stock
// Telegraf of make telegraf-stock as user nobody with no capabilities, with
// [[inputs.execd]] running our binary installed as the README says (file
// capability cap_net_admin, nothing else), outputs.influxdb writing to a
// real influxd and outputs.prometheus_client. It sends nPackets UDP
// datagrams that an NFLOG rule logs, and checks that InfluxDB holds exactly
// one point per packet with the right tags and fields, and that the
// Prometheus counter reads nPackets.
func TestE2EStockTelegraf(t *testing.T) {
	s := newStack(t, nflogGroup, nflogPrefix)
	readmeStock := runReadmeStock(t, s)
	telegraf, plugin := readmeStock.telegraf, readmeStock.plugin

	s.addRule(t, "-A", "OUTPUT", "-p", "udp", "--dport", "9",
		"-j", "NFLOG", "--nflog-group", strconv.Itoa(nflogGroup), "--nflog-prefix", nflogPrefix)

	// The kernel sends the packets in batches of queue_threshold, or after
	// flush_timeout: the nPackets (< 64) sent in a burst arrive in one or
	// two batches. Locally sent packets carry no kernel timestamp, so all
	// packets of a batch get the batch's receive time: the case in which
	// InfluxDB would keep one point for several packets unless the plugin
	// makes their times unique. The README's "edit groups" step: the test
	// writes its own plugin.conf over the installed sample.conf.
	pluginConf := writeFile(t, filepath.Dir(readmeStock.pluginConf), filepath.Base(readmeStock.pluginConf), fmt.Sprintf(`# nflog plugin for the end-to-end test
[[inputs.nflog]]
  groups = [%d]
  metrics = "both"
  copy_mode = "packet"
  copy_range = 128
  flush_timeout = "100ms"
  queue_threshold = 64
`, nflogGroup))
	telegrafConf := writeFile(t, s.dir, "telegraf.conf", fmt.Sprintf(`[agent]
  interval = "1s"
  flush_interval = "1s"
  flush_jitter = "0s"
  collection_jitter = "0s"
  omit_hostname = true
  debug = true

[[inputs.execd]]
  command = [%q, "-config", %q, "-poll-interval", "1s"]
  signal = "none"
  restart_delay = "1s"
  data_format = "influx"
`, plugin, pluginConf)+s.outputs())

	tg := startTelegraf(t, s.ns, s.dir, telegraf, telegrafConf, s.nobody, s.metricsOut)
	s.waitBound(t, tg)

	// Privileges: Telegraf runs as nobody without capabilities, our binary
	// as nobody with exactly cap_net_admin (from the file capability).
	requireCreds(t, "telegraf", procStatus(t, tg.cmd.Process.Pid), s.nobody, capSets{})
	child := findChild(t, tg.cmd.Process.Pid, "telegraf-nflog")
	requireCreds(t, "telegraf-nflog", procStatus(t, child), s.nobody, capSets{eff: 1 << capNetAdmin})

	sendStart := time.Now()
	testutil.SendUDP(t, s.ns, "127.0.0.1:9", bytes.Repeat([]byte{'x'}, payloadLen), nPackets)
	sendEnd := time.Now()
	s.checkResults(t, want{db: "nflog"}, sendStart, sendEnd)

	// A clean stop: SIGTERM makes Telegraf close the child's stdin, on
	// which our binary must exit at once (execd would send SIGTERM after 5 s).
	stopTelegraf(t, tg, "[inputs.execd]")
	if processAlive(child) {
		t.Errorf("telegraf-nflog (pid %d) still runs after Telegraf stopped", child)
	}
}

// ---- Prerequisites ---------------------------------------------------------

func requireInfluxd(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("influxd"); err == nil {
		return
	}
	msg := `tool "influxd" not found in PATH (apt-get install influxdb; Debian's package, v1.6)`
	if testutil.InCI() {
		t.Fatalf("prerequisite missing (CI=true, so this is a failure, not a skip): %s", msg)
	}
	t.Skipf("prerequisite missing: %s", msg)
}

type account struct {
	name     string
	uid, gid int
}

func lookupNobody(t *testing.T) account {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("looking up user nobody: %v", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil || uid == 0 || gid == 0 {
		t.Fatalf("user nobody has uid %q gid %q (%v)", u.Uid, u.Gid, err)
	}
	return account{name: u.Username, uid: uid, gid: gid}
}

// worldReadableDir returns a fresh directory that user nobody can traverse
// (t.TempDir is mode 0700 under a 0700 parent).
func worldReadableDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nflog-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(dir); d != "/"; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			t.Fatalf("%s is not traversable by other users (mode %v): set TMPDIR to a directory that is", d, fi.Mode())
		}
	}
	return dir
}

// buildPlugin builds our execd binary into dir and gives it cap_net_admin.
func buildPlugin(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "telegraf-nflog")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/nflogr/telegraf-nflog/cmd/telegraf-nflog")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building telegraf-nflog: %v\n%s", err, out)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("setcap"); err != nil {
		t.Fatal("setcap not found: apt-get install libcap2-bin")
	}
	if out, err := exec.Command("setcap", "cap_net_admin+ep", bin).CombinedOutput(); err != nil {
		t.Fatalf("setcap cap_net_admin+ep %s: %v\n%s", bin, err, out)
	}
	return bin
}

// ---- Servers ----------------------------------------------------------------

// proc is a server process started by the test, in its own process group
// so that it and its children can be killed together.
type proc struct {
	name   string
	cmd    *exec.Cmd
	done   chan struct{}
	stdout string
	stderr string
	// stopped is set by stop; a second stop is a no-op.
	stopped bool
	took    time.Duration
}

func startProc(t *testing.T, dir, name string, args ...string) *proc {
	t.Helper()
	p := &proc{
		name:   name,
		done:   make(chan struct{}),
		stdout: filepath.Join(dir, name+".stdout"),
		stderr: filepath.Join(dir, name+".stderr"),
	}
	stdout, err := os.Create(p.stdout)
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	stderr, err := os.Create(p.stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()

	// Registered before the stop below, so it runs after it (LIFO) and
	// shows the complete logs.
	t.Cleanup(func() {
		if t.Failed() {
			for _, f := range []string{p.stdout, p.stderr} {
				b, _ := os.ReadFile(f)
				t.Logf("---- %s ----\n%s", filepath.Base(f), tail(b, 200))
			}
		}
	})

	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Stdin = nil // /dev/null
	p.cmd.Stdout = stdout
	p.cmd.Stderr = stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.cmd.Wait() //nolint:errcheck // the exit status is read from ProcessState
		close(p.done)
	}()
	// Cleanups run last-registered first: stop the process, then kill
	// whatever is left of its group (a child that outlived it), then show
	// the logs (registered above).
	t.Cleanup(func() { _ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) })
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, kills the process group after stopTimeout, and waits.
// It returns how long the process took to exit after SIGTERM.
func (p *proc) stop(t *testing.T) time.Duration {
	t.Helper()
	if p.stopped {
		return p.took
	}
	p.stopped = true
	pgid := p.cmd.Process.Pid
	start := time.Now()
	if !p.exited() {
		_ = syscall.Kill(pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopTimeout):
			t.Errorf("%s did not stop within %v of SIGTERM; killing it", p.name, stopTimeout)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
	}
	p.took = time.Since(start)
	return p.took
}

func startInfluxd(t *testing.T, ns *testutil.NetNS, dir string, client *http.Client, baseURL string, httpPort, rpcPort int) *proc {
	t.Helper()
	data := filepath.Join(dir, "influxdb")
	conf := writeFile(t, dir, "influxdb.conf", testutil.InfluxdConfig(data, rpcPort, httpPort, true))

	p := startProc(t, dir, "influxd", "ip", "netns", "exec", ns.Name(), "influxd", "-config", conf)
	waitFor(t, startTimeout, "influxd answering /ping with 204", func() (bool, string) {
		if p.exited() {
			return false, "influxd exited"
		}
		resp, err := client.Get(baseURL + "/ping")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusNoContent, resp.Status
	})
	return p
}

// startTelegraf starts Telegraf in ns as user as with no capabilities.
func startTelegraf(t *testing.T, ns *testutil.NetNS, dir, bin, conf string, as account, metricsOut string) *proc {
	t.Helper()
	return startTelegrafPriv(t, ns, dir, []string{
		"--reuid=" + strconv.Itoa(as.uid), "--regid=" + strconv.Itoa(as.gid),
		"--clear-groups", "--inh-caps=-all",
	}, bin, conf, metricsOut)
}

// startTelegrafPriv starts Telegraf in ns under setpriv with the options
// setpriv.
func startTelegrafPriv(t *testing.T, ns *testutil.NetNS, dir string, setpriv []string, bin, conf, metricsOut string) *proc {
	t.Helper()
	args := append([]string{"ip", "netns", "exec", ns.Name(), "setpriv"}, setpriv...)
	p := startProc(t, dir, "telegraf", append(args, bin, "--config", conf)...)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(metricsOut)
			t.Logf("---- metrics Telegraf wrote (outputs.file) ----\n%s", tail(b, 100))
		}
	})
	return p
}

// ---- Namespace helpers --------------------------------------------------------

// nsHTTPClient returns an HTTP client whose connections are opened inside
// ns (a socket keeps the namespace it was created in).
func nsHTTPClient(ns *testutil.NetNS) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := ns.Do(func() error {
			var err error
			c, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true, Proxy: nil},
	}
}

// freePorts returns n distinct free TCP ports on 127.0.0.1 inside ns.
func freePorts(t *testing.T, ns *testutil.NetNS, n int) []int {
	t.Helper()
	var ports []int
	err := ns.Do(func() error {
		var ls []net.Listener
		defer func() {
			for _, l := range ls {
				l.Close()
			}
		}()
		for range n {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			ls = append(ls, l)
			ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("finding free ports: %v", err)
	}
	return ports
}

// waitGroupBound waits until the kernel lists group as bound in ns: the
// plugin under Telegraf tg runs.
func waitGroupBound(t *testing.T, ns *testutil.NetNS, group int, tg *proc) {
	t.Helper()
	waitFor(t, startTimeout, fmt.Sprintf("NFLOG group %d bound in namespace %s (plugin started)", group, ns.Name()), func() (bool, string) {
		if tg.exited() {
			return false, "Telegraf exited"
		}
		out, err := ns.RunErr("cat", "/proc/net/netfilter/nfnetlink_log")
		if err != nil {
			return false, err.Error()
		}
		return groupBound(out, group), out
	})
}

// groupBound reports whether /proc/net/netfilter/nfnetlink_log lists group.
func groupBound(procFile string, group int) bool {
	for _, line := range strings.Split(procFile, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == strconv.Itoa(group) {
			return true
		}
	}
	return false
}

// ---- Processes and credentials --------------------------------------------

type status map[string]string

func procStatus(t *testing.T, pid int) status {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading status of pid %d: %v", pid, err)
	}
	st := status{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			st[k] = strings.TrimSpace(v)
		}
	}
	return st
}

// capSets are the capability sets a process should have: eff is both
// the effective and the permitted set; bnd, when not zero, the bounding set.
type capSets struct {
	eff, inh, amb, bnd uint64
}

// requireCreds checks that the process runs with all its UIDs and GIDs
// those of as, no supplementary groups, and exactly the capabilities caps.
func requireCreds(t *testing.T, what string, st status, as account, caps capSets) {
	t.Helper()
	for _, k := range []string{"Uid", "Gid"} {
		want := as.uid
		if k == "Gid" {
			want = as.gid
		}
		for _, id := range strings.Fields(st[k]) {
			if id != strconv.Itoa(want) {
				t.Errorf("%s (pid %s) runs with %s %q, want %d everywhere", what, st["Pid"], k, st[k], want)
				break
			}
		}
	}
	if st["Groups"] != "" {
		t.Errorf("%s has supplementary groups %q", what, st["Groups"])
	}
	sets := map[string]uint64{"CapEff": caps.eff, "CapPrm": caps.eff, "CapInh": caps.inh, "CapAmb": caps.amb}
	if caps.bnd != 0 {
		sets["CapBnd"] = caps.bnd
	}
	for k, want := range sets {
		got, err := strconv.ParseUint(st[k], 16, 64)
		if err != nil || got != want {
			t.Errorf("%s (pid %s) has %s %s, want %016x", what, st["Pid"], k, st[k], want)
		}
	}
	t.Logf("%s: pid %s Uid %q CapEff %s CapAmb %s CapBnd %s", what, st["Pid"], st["Uid"], st["CapEff"], st["CapAmb"], st["CapBnd"])
}

// findChild returns the pid of the child of parent whose command name is
// comm, waiting for it to appear.
func findChild(t *testing.T, parent int, comm string) int {
	t.Helper()
	var pid int
	waitFor(t, startTimeout, fmt.Sprintf("child %q of pid %d", comm, parent), func() (bool, string) {
		entries, err := os.ReadDir("/proc")
		if err != nil {
			return false, err.Error()
		}
		for _, e := range entries {
			p, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
			if err != nil {
				continue
			}
			// pid (comm) state ppid ...; comm may contain spaces and ')'.
			s := string(b)
			open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
			if open < 0 || end < open {
				continue
			}
			f := strings.Fields(s[end+1:])
			if s[open+1:end] == comm && len(f) > 1 && f[1] == strconv.Itoa(parent) {
				pid = p
				return true, ""
			}
		}
		return false, "not found"
	})
	return pid
}

func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	end := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[end+1:])
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// ---- InfluxDB -----------------------------------------------------------------

type influxPoint map[string]any // column -> value (json.Number for numbers)

// queryInfluxDB runs q against database db and returns the rows, times in
// nanoseconds. A database or measurement that does not exist yet gives no
// rows.
func queryInfluxDB(client *http.Client, base, db, q string) ([]influxPoint, error) {
	u := base + "/query?" + url.Values{"db": {db}, "epoch": {"ns"}, "q": {q}}.Encode()
	resp, err := client.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var r struct {
		Results []struct {
			Error  string `json:"error"`
			Series []struct {
				Name    string   `json:"name"`
				Columns []string `json:"columns"`
				Values  [][]any  `json:"values"`
			} `json:"series"`
		} `json:"results"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // nanosecond times do not fit a float64
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %v: %s", resp.Status, err, body)
	}
	if r.Error != "" {
		return nil, errors.New(r.Error)
	}
	var points []influxPoint
	for _, res := range r.Results {
		if res.Error != "" {
			if strings.Contains(res.Error, "database not found") {
				continue
			}
			return nil, errors.New(res.Error)
		}
		for _, s := range res.Series {
			for _, v := range s.Values {
				p := influxPoint{}
				for i, c := range s.Columns {
					if i < len(v) && v[i] != nil {
						p[c] = v[i]
					}
				}
				points = append(points, p)
			}
		}
	}
	return points, nil
}

func (p influxPoint) int(t *testing.T, col string) int64 {
	t.Helper()
	n, ok := p[col].(json.Number)
	if !ok {
		t.Fatalf("point %v: column %q is %T, want a number", p, col, p[col])
	}
	v, err := n.Int64()
	if err != nil {
		t.Fatalf("point %v: column %q = %s is not an integer", p, col, n)
	}
	return v
}

// checkPoints checks every point's tags (those of the packet, with prefix,
// and extra) and fields, and that their times are distinct (equal ones
// would have been merged by InfluxDB anyway) and lie in the packet's
// microsecond.
func checkPoints(t *testing.T, points []influxPoint, prefix string, extra map[string]string, sendStart, sendEnd time.Time) {
	t.Helper()
	wantCols := []string{"len", "mark", "outdev", "prefix", "proto", "time", "timestamp_us", "uid"}
	wantTags := map[string]string{"prefix": prefix, "outdev": "lo", "proto": "ipv4", "uid": "0"}
	for k, v := range extra {
		wantCols = append(wantCols, k)
		wantTags[k] = v
	}
	slices.Sort(wantCols)
	times := map[int64]bool{}
	lo, hi := sendStart.Add(-time.Second).UnixMicro(), sendEnd.Add(time.Second).UnixMicro()
	for i, p := range points {
		cols := make([]string, 0, len(p))
		for c := range p {
			cols = append(cols, c)
		}
		slices.Sort(cols)
		if !slices.Equal(cols, wantCols) {
			t.Fatalf("point %d has columns %v, want %v: %v", i, cols, wantCols, p)
		}
		for k, want := range wantTags {
			if p[k] != want {
				t.Errorf("point %d: tag %s = %v, want %q", i, k, p[k], want)
			}
		}
		if got := p.int(t, "len"); got != ipLen {
			t.Errorf("point %d: len = %d, want %d", i, got, ipLen)
		}
		if got := p.int(t, "mark"); got != 0 {
			t.Errorf("point %d: mark = %d, want 0", i, got)
		}
		// The time is the packet's (timestamp_us, or the receive time
		// in ns when the kernel sent none), moved forward by at most a
		// nanosecond per earlier packet of the same series.
		ts, us := p.int(t, "time"), p.int(t, "timestamp_us")
		if d := ts - us*1000; d < 0 || d >= 1000+nPackets {
			t.Errorf("point %d: time %d ns is not within timestamp_us %d (+%d ns)", i, ts, us, nPackets)
		}
		if us < lo || us > hi {
			t.Errorf("point %d: timestamp_us %d outside the sending window [%d, %d]", i, us, lo, hi)
		}
		if times[ts] {
			t.Errorf("point %d: time %d seen twice", i, ts)
		}
		times[ts] = true
	}
}

// distinct counts the different values of col.
func distinct(points []influxPoint, col string) int {
	seen := map[any]bool{}
	for _, p := range points {
		seen[p[col]] = true
	}
	return len(seen)
}

// ---- Prometheus -----------------------------------------------------------------

type promLabels map[string]string

type promSample struct {
	name   string
	labels promLabels
	value  float64
}

type promText struct {
	raw     string
	types   map[string]string
	samples []promSample
}

func scrape(client *http.Client, u string) (*promText, error) {
	resp, err := client.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, body)
	}
	return parseProm(string(body))
}

// parseProm parses the text exposition format, enough for Telegraf's output:
// `name{a="x",b="y"} value` lines and `# TYPE name type` comments.
func parseProm(text string) (*promText, error) {
	pt := &promText{raw: text, types: map[string]string{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			if f := strings.Fields(rest); len(f) == 2 {
				pt.types[f[0]] = f[1]
			}
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		s := promSample{labels: promLabels{}}
		rest := line
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				return nil, fmt.Errorf("bad line %q", line)
			}
			s.name, rest = line[:i], line[j+1:]
			for _, kv := range splitLabels(line[i+1 : j]) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return nil, fmt.Errorf("bad label %q in %q", kv, line)
				}
				uq, err := strconv.Unquote(v)
				if err != nil {
					return nil, fmt.Errorf("bad label value %s in %q", v, line)
				}
				s.labels[k] = uq
			}
		} else {
			f := strings.Fields(line)
			s.name, rest = f[0], strings.Join(f[1:], " ")
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return nil, fmt.Errorf("no value in %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("bad value in %q", line)
		}
		s.value = v
		pt.samples = append(pt.samples, s)
	}
	return pt, sc.Err()
}

// splitLabels splits `a="x",b="y,z"` at the commas outside quotes.
func splitLabels(s string) []string {
	var out []string
	inQuote, esc, start := false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case esc:
			esc = false
		case c == '\\':
			esc = true
		case c == '"':
			inQuote = !inQuote
		case c == ',' && !inQuote:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// value returns the sample of name with exactly the labels want.
func (pt *promText) value(name string, want promLabels) (float64, bool) {
	for _, s := range pt.samples {
		if s.name == name && maps.Equal(s.labels, want) {
			return s.value, true
		}
	}
	return 0, false
}

func (pt *promText) series(name string) []promSample {
	var out []promSample
	for _, s := range pt.samples {
		if s.name == name {
			out = append(out, s)
		}
	}
	return out
}

func (pt *promText) grep(prefix string) string {
	var lines []string
	for _, l := range strings.Split(pt.raw, "\n") {
		if strings.HasPrefix(l, prefix) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// checkProm checks the counters of the series want and the statistics of
// the series stats.
func checkProm(t *testing.T, pt *promText, want, stats promLabels) {
	t.Helper()
	for _, c := range []struct {
		name  string
		value float64
	}{
		{"nflog_counters_packets_total", nPackets},
		{"nflog_counters_bytes_total", nPackets * ipLen},
	} {
		if s := pt.series(c.name); len(s) != 1 {
			t.Errorf("%s has %d series, want 1 (all packets share one tag set):\n%s", c.name, len(s), pt.grep(c.name))
		}
		if v, ok := pt.value(c.name, want); !ok || v != c.value {
			t.Errorf("%s%v = %v (found %v), want %v:\n%s", c.name, want, v, ok, c.value, pt.grep("nflog_"))
		}
		if typ := pt.types[c.name]; typ != "counter" {
			t.Errorf("# TYPE %s is %q, want counter", c.name, typ)
		}
	}
	for name, want := range map[string]float64{
		"nflog_stats_packets_received_total": nPackets,
		"nflog_stats_overruns_total":         0,
		"nflog_stats_packets_lost_total":     0,
		"nflog_stats_decode_errors_total":    0,
	} {
		if v, ok := pt.value(name, stats); !ok || v != want {
			t.Errorf("%s%v = %v (found %v), want %v:\n%s", name, stats, v, ok, want, pt.grep("nflog_stats"))
		}
	}
	// The socket buffer is above net.core.rmem_max only through
	// SO_RCVBUFFORCE, i.e. cap_net_admin works for the unprivileged binary.
	if v, ok := pt.value("nflog_stats_read_buffer_bytes", stats); !ok || v < 8<<20 {
		t.Errorf("nflog_stats_read_buffer_bytes = %v (found %v), want >= 8 MiB (the default read_buffer_size, forced with cap_net_admin)", v, ok)
	}
}

// ---- Small helpers ------------------------------------------------------------

// waitFor polls cond every 200 ms until it holds or timeout passes, then
// fails the test with cond's last note.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, note := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last state:\n%s", timeout, what, note)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dst, mode); err != nil {
		t.Fatal(err)
	}
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[... %d lines omitted]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
