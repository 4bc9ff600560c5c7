//go:build linux

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nflogr/telegraf-nflog/testutil"
)

// stack is what both deployments of the plugin are tested in: a fresh
// network namespace with an NFLOG rule, a real influxd in it, and the
// checks of what Telegraf wrote to InfluxDB and shows on its Prometheus
// endpoint. Only Telegraf and its configuration differ between
// TestE2EStockTelegraf (execd) and TestE2EInTreeTelegraf.
type stack struct {
	dir    string
	nobody account
	ns     *testutil.NetNS
	client *http.Client

	group  int
	prefix string

	influxPort, promPort int
	influxURL, promURL   string
	promAddr             string // host:port
	metricsOut           string // outputs.file, shown on failure
}

// newStack checks the prerequisites and starts influxd in a fresh
// namespace. The NFLOG rule is the caller's (addRule).
func newStack(t *testing.T, group int, prefix string) *stack {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: builds Telegraf and runs InfluxDB; skipped with -short")
	}
	testutil.RequireRoot(t)
	testutil.RequireTools(t, "go", "make", "ip", "iptables", "setpriv", "setcap", "cat", "bash")
	requireInfluxd(t)
	s := &stack{nobody: lookupNobody(t), dir: worldReadableDir(t), group: group, prefix: prefix}
	s.ns = testutil.NewNetNS(t)
	s.client = nsHTTPClient(s.ns)
	ports := freePorts(t, s.ns, 3)
	s.influxPort, s.promPort = ports[0], ports[2]
	s.influxURL = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	s.promAddr = fmt.Sprintf("127.0.0.1:%d", ports[2])
	s.promURL = "http://" + s.promAddr + "/metrics"
	startInfluxd(t, s.ns, s.dir, s.client, s.influxURL, ports[0], ports[1])
	s.metricsOut = writeFile(t, s.dir, "metrics.out", "")
	if err := os.Chown(s.metricsOut, s.nobody.uid, s.nobody.gid); err != nil {
		t.Fatal(err)
	}
	return s
}

// addRule adds an iptables rule in the namespace, marked with ruleComment
// so that its packet counter can be read.
func (s *stack) addRule(t *testing.T, args ...string) {
	t.Helper()
	s.ns.Iptables(t, append(args, "-m", "comment", "--comment", ruleComment)...)
}

// outputs is the outputs section both deployments use: InfluxDB, the
// Prometheus endpoint with the counters typed, and a file for diagnosis.
func (s *stack) outputs() string {
	return fmt.Sprintf(`
[[outputs.influxdb]]
  urls = [%q]
  database = "nflog"
  timeout = "5s"

[[outputs.prometheus_client]]
  listen = "127.0.0.1:%d"
  metric_version = 2
  expiration_interval = "0s"
  collectors_exclude = ["gocollector", "process"]
  ## The per-packet stream is useless to Prometheus (last value wins).
  namepass = ["nflog_counters", "nflog_stats"]
  ## Line protocol carries no metric type: declare the counters and gauges.
  [outputs.prometheus_client.metric_types]
    counter = ["nflog_counters_*_total", "nflog_stats_*_total"]
    gauge = ["nflog_stats_read_buffer_bytes", "nflog_top_*"]
`, s.influxURL, s.promPort) + s.fileOutput()
}

func (s *stack) fileOutput() string {
	return fmt.Sprintf(`
# Added by the test, to show on failure what Telegraf wrote.
[[outputs.file]]
  files = [%q]
  data_format = "influx"
`, s.metricsOut)
}

// waitBound waits until the kernel lists the group as bound: the plugin runs.
func (s *stack) waitBound(t *testing.T, tg *proc) {
	t.Helper()
	waitGroupBound(t, s.ns, s.group, tg)
}

// want is what the checks expect beyond the packets themselves.
type want struct {
	db   string            // InfluxDB database
	tags map[string]string // tags Telegraf adds to every metric (host)
}

// checkResults checks, after nPackets were sent between sendStart and
// sendEnd, the rule's counter, InfluxDB's points and the Prometheus
// endpoint.
func (s *stack) checkResults(t *testing.T, w want, sendStart, sendEnd time.Time) {
	t.Helper()
	if pk, _ := testutil.IptablesCounter(t, s.ns, "iptables", "filter", "OUTPUT", ruleComment); pk != nPackets {
		t.Fatalf("the NFLOG rule matched %d packets, want %d", pk, nPackets)
	}

	// InfluxDB: exactly one point per packet, and it stays that way.
	var points []influxPoint
	waitFor(t, resultTimeout, fmt.Sprintf("%d points of nflog in InfluxDB", nPackets), func() (bool, string) {
		var err error
		points, err = queryInfluxDB(s.client, s.influxURL, w.db, "SELECT * FROM nflog")
		if err != nil {
			return false, err.Error()
		}
		return len(points) >= nPackets, fmt.Sprintf("%d points", len(points))
	})
	time.Sleep(settleTime)
	points, err := queryInfluxDB(s.client, s.influxURL, w.db, "SELECT * FROM nflog")
	if err != nil {
		t.Fatal(err)
	}
	if len(points) != nPackets {
		t.Fatalf("InfluxDB holds %d points of nflog, want exactly %d (one per packet)", len(points), nPackets)
	}
	checkPoints(t, points, s.prefix, w.tags, sendStart, sendEnd)
	us := distinct(points, "timestamp_us")
	t.Logf("InfluxDB holds %d points of nflog with %d distinct timestamp_us, e.g. %v", len(points), us, points[0])
	if us == nPackets {
		t.Errorf("every packet has its own timestamp_us, so the test did not prove that packets " +
			"sharing a microsecond are all kept; expected the kernel to batch them (flush_timeout, queue_threshold)")
	}

	// Prometheus: the packet counter reads nPackets.
	var prom *promText
	labels := promLabels{"outdev": "lo", "prefix": s.prefix, "proto": "ipv4", "uid": "0"}
	for k, v := range w.tags {
		labels[k] = v
	}
	waitFor(t, resultTimeout, fmt.Sprintf("nflog_counters_packets_total = %d on %s", nPackets, s.promURL), func() (bool, string) {
		var err error
		prom, err = scrape(s.client, s.promURL)
		if err != nil {
			return false, err.Error()
		}
		v, ok := prom.value("nflog_counters_packets_total", labels)
		return ok && v == nPackets, prom.grep("nflog_")
	})
	stats := promLabels{"group": strconv.Itoa(s.group)}
	for k, v := range w.tags {
		stats[k] = v
	}
	checkProm(t, prom, labels, stats)
	t.Logf("Prometheus endpoint:\n%s", prom.grep("nflog_"))
}

// stopTelegraf stops Telegraf with SIGTERM and checks that it exits at once
// with status 0, and that it logged no error and no warning of plugin
// (the log prefix of the plugin that reads NFLOG: [inputs.execd] or
// [inputs.nflog]).
func stopTelegraf(t *testing.T, tg *proc, plugin string) {
	t.Helper()
	took := tg.stop(t)
	t.Logf("Telegraf stopped %v after SIGTERM", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("Telegraf needed %v to stop: the plugin did not stop at once", took)
	}
	if code := tg.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("Telegraf exited with status %d, want 0", code)
	}
	// Telegraf's own deprecation warnings are not ours to fix, nor is one
	// shutdown race of Telegraf 1.37.2: internal/process cmdWait calls
	// Cmd.Wait while its stdout and stderr readers still read, and Wait
	// closes those pipes, so a child that exits promptly on stdin EOF can
	// make execd log "read |0: file already closed" once Telegraf is
	// stopping.
	for _, line := range strings.Split(readFile(t, tg.stderr), "\n") {
		if strings.Contains(line, "[inputs.execd]") && strings.HasSuffix(line, ": file already closed") {
			t.Logf("Telegraf's execd shutdown race (tolerated): %s", line)
			continue
		}
		if strings.Contains(line, " E! ") ||
			(strings.Contains(line, " W! ") && strings.Contains(line, plugin)) {
			t.Errorf("Telegraf logged: %s", line)
		}
	}
}
