//go:build linux

package e2e

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nflogr/telegraf-nflog/testutil"
)

const (
	inTreeHeading = "### Telegraf with `[[inputs.nflog]]` compiled in"
	// The group and prefix of the README's rule and telegraf.conf.
	readmeGroup  = 5
	readmePrefix = "hello"
	// The README's example output shows this host name.
	readmeHost = "myhost"
)

// TestE2EInTreeTelegraf follows the README's in-tree path: make telegraf
// (Telegraf v1.37.2 with inputs.nflog compiled in), the README's
// telegraf.conf with [[inputs.nflog]], its NFLOG rule, Telegraf as user
// nobody with CAP_NET_ADMIN as its only capability (ambient, as a systemd
// unit's AmbientCapabilities gives it), the README's traffic and its curl
// commands, in a fresh namespace with a real influxd. Only the paths,
// addresses and intervals are the test's. It checks the points in InfluxDB
// and the counters on the Prometheus endpoint as TestE2EStockTelegraf does,
// and that the curl commands print the README's example output.
func TestE2EInTreeTelegraf(t *testing.T) {
	s := newStack(t, readmeGroup, readmePrefix)
	testutil.RequireTools(t, "curl")
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	section := readmeSection(t, inTreeHeading)

	// Paths and addresses: the test's; intervals: 1 s instead of 10 s.
	paths := replacer{{"/usr/local/bin/", s.dir + "/"}, {"/etc/telegraf-nflog/", s.dir + "/"}}
	addrs := replacer{{"http://127.0.0.1:8086", s.influxURL}, {"127.0.0.1:9273", s.promAddr}}
	conf := replacer{
		{"\n  interval = \"10s\"", "\n  interval = \"1s\"\n  collection_jitter = \"0s\""},
		{`flush_interval = "10s"`, `flush_interval = "1s"`},
		addrs[0], addrs[1],
	}.mustApply(t, "README.md's in-tree telegraf.conf", onlyBlock(t, section, inTreeHeading, "toml"))
	confPath := writeFile(t, s.dir, "telegraf.conf", conf+s.fileOutput())
	if !strings.Contains(section, "/etc/telegraf-nflog/telegraf.conf") {
		t.Fatal("README.md's in-tree section no longer says where telegraf.conf goes (/etc/telegraf-nflog/telegraf.conf)")
	}

	var (
		tg                 *proc
		sendStart, sendEnd time.Time
		curls              []string
		curlOut            strings.Builder
		checked            bool
	)
	for _, c := range shellCommands(onlyBlock(t, section, inTreeHeading, "sh")) {
		f := strings.Fields(c)
		switch {
		case c == "make telegraf":
			inTreeTelegraf(t, s.dir)
		case f[0] == "install":
			runInRepo(t, paths.apply(c))
		case f[0] == "iptables":
			s.addRule(t, f[1:]...)
		case f[0] == "setpriv" && f[len(f)-1] == "&":
			args := strings.Fields(paths.apply(strings.TrimSuffix(c, "&")))
			i := slices.Index(args, "--config")
			if i < 2 || i != len(args)-2 {
				t.Fatalf("README's %q: want setpriv OPTIONS... TELEGRAF --config FILE &", c)
			}
			if args[i+1] != confPath {
				t.Fatalf("README's %q runs Telegraf with %s, not the telegraf.conf the README shows (%s)", c, args[i+1], confPath)
			}
			tg = startTelegrafPriv(t, s.ns, s.dir, args[1:i-1], args[i-1], confPath, s.metricsOut)
			s.waitBound(t, tg)
			// Telegraf itself as nobody, with CAP_NET_ADMIN only: not root.
			netAdmin := uint64(1) << capNetAdmin
			requireCreds(t, "telegraf", procStatus(t, tg.cmd.Process.Pid), s.nobody,
				capSets{eff: netAdmin, inh: netAdmin, amb: netAdmin, bnd: netAdmin})
		case f[0] == "for":
			if tg == nil {
				t.Fatalf("README's traffic %q comes before Telegraf is started", c)
			}
			sendStart = time.Now()
			s.ns.Run(t, "bash", "-c", c)
			sendEnd = time.Now()
		case f[0] == "sleep":
			// Instead of sleeping, the checks wait for their results.
			s.checkResults(t, want{db: "telegraf", tags: map[string]string{"host": host}}, sendStart, sendEnd)
			checked = true
		case f[0] == "curl":
			if !checked {
				t.Fatalf("README's %q comes before the sleep that waits for Telegraf's flush", c)
			}
			curls = append(curls, c)
			curlOut.WriteString(s.ns.Run(t, "bash", "-o", "pipefail", "-c", addrs.apply(c)))
		default:
			t.Fatalf("README.md section %q shows %q, which no test runs: teach TestE2EInTreeTelegraf to run it", inTreeHeading, c)
		}
	}
	if tg == nil || !checked || len(curls) == 0 {
		t.Fatalf("README.md section %q must build, start Telegraf, send traffic, wait and show the metrics with curl", inTreeHeading)
	}

	// What the curl commands printed is the README's example output.
	got := strings.Split(strings.TrimSpace(curlOut.String()), "\n")
	t.Logf("the README's curl commands printed:\n%s", curlOut.String())
	for _, w := range strings.Split(strings.TrimSpace(onlyBlock(t, section, inTreeHeading, "text")), "\n") {
		w = strings.ReplaceAll(w, `host="`+readmeHost+`"`, `host="`+host+`"`)
		if !slices.Contains(got, w) {
			t.Errorf("the README's curl commands did not print its example output line\n%s", w)
		}
	}

	stopTelegraf(t, tg, "[inputs.nflog]")
}
