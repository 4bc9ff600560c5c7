//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/parsers/influx"

	"github.com/nflogr/telegraf-nflog/testutil"
)

const (
	// The overload: more packets than the pipeline below carries, sent as
	// fast as the sender can.
	lossFloodPackets = 100_000
	lossFloodTime    = 10 * time.Second
	// Packets sent after the flood, once the pipeline has drained: a
	// packet lost at the very end of the flood leaves no sequence gap
	// until a later packet arrives, so these make every kernel loss
	// visible.
	lossMarkers = 5
	// The slow sink: the test reads the packets output's FIFO at about
	// this many bytes a second (some 20,000 points).
	lossSinkRate = 4 << 20
	// Telegraf's buffer for that output, in metrics.
	lossBufferLimit = 1000
	lossSettle      = 90 * time.Second
)

// TestE2ELossAccounted floods the execd path harder than it can carry and
// checks that no packet is lost without a word: every packet the NFLOG
// rule logged is a point the output wrote, or is counted by one of the
// figures a user can look at:
//
//   - the kernel's and the reader's: nflog_stats packets_lost_total (the
//     sequence gaps: socket overruns while our binary's stdout was blocked
//     by a Telegraf busy parsing) and decode_errors_total;
//   - the binary's: nflog_stats packet_metrics_not_emitted_total (0 here,
//     no rate limit is set);
//   - Telegraf's: inputs.internal's internal_write metrics_dropped for the
//     output, when its metric_buffer_limit overflows because the output
//     cannot write fast enough (a FIFO the test drains slowly).
//
// The sum must be exact: sent = points written + counted losses. Each
// stage is also checked on its own (received by the binary = metrics added
// to the output's buffer), so that a failure says where a packet went.
func TestE2ELossAccounted(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: builds Telegraf; skipped with -short")
	}
	testutil.RequireRoot(t)
	testutil.RequireTools(t, "go", "ip", "iptables", "setpriv", "setcap", "cat")
	nobody := lookupNobody(t)

	dir := worldReadableDir(t)
	telegraf := buildTelegraf(t, dir)
	plugin := buildPlugin(t, dir)

	ns := testutil.NewNetNS(t)
	ns.Iptables(t, "-A", "OUTPUT", "-p", "udp", "--dport", "9",
		"-m", "comment", "--comment", ruleComment,
		"-j", "NFLOG", "--nflog-group", strconv.Itoa(nflogGroup),
		"--nflog-prefix", nflogPrefix, "--nflog-threshold", "64")

	// The packets output writes to a FIFO that the test drains at
	// lossSinkRate; opened read-write so that Telegraf's open for writing
	// never blocks and the test's reads never see EOF.
	fifo := filepath.Join(dir, "packets.fifo")
	if err := syscall.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(fifo, nobody.uid, nobody.gid); err != nil {
		t.Fatal(err)
	}
	sink, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var written atomic.Int64 // nflog points read from the FIFO
	drainDone := make(chan struct{})
	go func() {
		defer close(drainDone)
		countPoints(sink, &written)
	}()
	t.Cleanup(func() {
		sink.Close()
		<-drainDone
	})

	statsOut := writeFile(t, dir, "stats.out", "")
	if err := os.Chown(statsOut, nobody.uid, nobody.gid); err != nil {
		t.Fatal(err)
	}
	pluginConf := writeFile(t, dir, "plugin.conf", fmt.Sprintf(`[[inputs.nflog]]
  groups = [%d]
  metrics = "packets"
  copy_range = 128
  flush_timeout = "100ms"
  queue_threshold = 64
  ## Small and fixed, so that a blocked stdout overruns the socket.
  read_buffer_size = "256KiB"
  max_read_buffer_size = 0
`, nflogGroup))
	telegrafConf := writeFile(t, dir, "telegraf.conf", fmt.Sprintf(`[agent]
  interval = "1s"
  flush_interval = "1s"
  flush_jitter = "0s"
  collection_jitter = "0s"
  omit_hostname = true

[[inputs.execd]]
  command = [%q, "-config", %q, "-poll-interval", "1s"]
  signal = "none"
  restart_delay = "1s"
  data_format = "influx"

[[inputs.internal]]
  collect_memstats = false

## The per-packet points, into a sink slower than the flood.
[[outputs.file]]
  alias = "packets"
  files = [%q]
  data_format = "influx"
  namepass = ["nflog"]
  metric_batch_size = 100
  metric_buffer_limit = %d

## The figures that account for the losses.
[[outputs.file]]
  alias = "stats"
  files = [%q]
  data_format = "influx"
  namepass = ["nflog_stats", "internal_write"]
  metric_buffer_limit = 100000
`, plugin, pluginConf, fifo, lossBufferLimit, statsOut))

	tg := startTelegraf(t, ns, dir, telegraf, telegrafConf, nobody, statsOut)
	waitGroupBound(t, ns, nflogGroup, tg)

	ctx, cancel := context.WithTimeout(context.Background(), lossFloodTime+5*time.Second)
	defer cancel()
	sent, err := testutil.Flood(ctx, ns, "127.0.0.1:9", payloadLen, lossFloodPackets, lossFloodTime)
	if err != nil {
		t.Fatalf("flood: %v", err)
	}
	t.Logf("flooded %d datagrams", sent)

	// Drained: the binary has seen (received or counted lost) everything
	// logged so far; then the markers reveal a trailing kernel loss.
	var acct lossAccount
	settle := func(logged uint64) func() (bool, string) {
		return func() (bool, string) {
			if tg.exited() {
				return false, "Telegraf exited"
			}
			acct = readAccount(t, statsOut, written.Load())
			acct.logged = logged
			return acct.balanced(), acct.String()
		}
	}
	logged, _ := testutil.IptablesCounter(t, ns, "iptables", "filter", "OUTPUT", ruleComment)
	waitFor(t, lossSettle, "the flood accounted for (before the markers)", func() (bool, string) {
		ok, s := settle(logged)()
		return ok || acct.seen() >= logged, s
	})
	testutil.SendUDP(t, ns, "127.0.0.1:9", bytes.Repeat([]byte{'m'}, payloadLen), lossMarkers)
	logged, _ = testutil.IptablesCounter(t, ns, "iptables", "filter", "OUTPUT", ruleComment)
	waitFor(t, lossSettle, "every logged packet written or counted as lost", settle(logged))
	t.Logf("accounted: %s", acct)

	if lost := acct.lost + acct.decodeErrors + acct.notEmitted + acct.dropped; lost == 0 {
		t.Fatalf("nothing was lost: the flood did not overload the pipeline, so the accounting was not tested (%s)", acct)
	}
	if acct.dropped == 0 {
		t.Errorf("Telegraf dropped nothing from the packets output (buffer %d, sink %d B/s): the test did not exercise metric_buffer_limit", lossBufferLimit, lossSinkRate)
	}
	if acct.lost > 0 {
		t.Logf("the kernel overran the socket: %d packets lost (sequence gaps) in %d overruns", acct.lost, acct.overruns)
	}
}

// countPoints reads line protocol from r at about lossSinkRate and counts
// the nflog points.
func countPoints(r io.Reader, n *atomic.Int64) {
	const chunk = 4 << 10
	br := bufio.NewReaderSize(&throttled{r: r, perChunk: time.Second * chunk / lossSinkRate, chunk: chunk}, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if bytes.HasPrefix(line, []byte("nflog,")) || bytes.HasPrefix(line, []byte("nflog ")) {
			n.Add(1)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return
		}
	}
}

// throttled reads at most chunk bytes per read and waits perChunk after
// each: the slow database.
type throttled struct {
	r        io.Reader
	chunk    int
	perChunk time.Duration
}

func (t *throttled) Read(p []byte) (int, error) {
	n, err := t.r.Read(p[:min(len(p), t.chunk)])
	time.Sleep(t.perChunk)
	return n, err
}

// lossAccount is where every logged packet went.
type lossAccount struct {
	logged uint64 // the NFLOG rule's packet counter

	// nflog_stats, the binary's last report.
	received, lost, decodeErrors, notEmitted, overruns uint64
	// internal_write of the packets output, Telegraf's last report.
	added, outWritten, dropped, buffered uint64
	haveStats, haveWrite                 bool

	points uint64 // nflog points the sink read
}

// seen is what the binary received or counted as lost.
func (a lossAccount) seen() uint64 { return a.received + a.lost + a.decodeErrors }

// balanced holds when every stage adds up exactly and nothing is in
// flight.
func (a lossAccount) balanced() bool {
	return a.haveStats && a.haveWrite &&
		a.logged == a.seen() && // kernel -> binary
		a.received == a.added+a.notEmitted && // binary -> Telegraf's output buffer
		a.buffered == 0 && a.added == a.outWritten+a.dropped && // the buffer
		a.outWritten == a.points && // the output -> the sink
		a.logged == a.points+a.dropped+a.lost+a.decodeErrors+a.notEmitted // the sum
}

func (a lossAccount) String() string {
	return fmt.Sprintf("logged %d = written %d + Telegraf dropped %d + lost in the kernel %d + decode errors %d + not emitted %d "+
		"(binary received %d, overruns %d; output added %d, wrote %d, buffered %d; stats seen %v/%v)",
		a.logged, a.points, a.dropped, a.lost, a.decodeErrors, a.notEmitted,
		a.received, a.overruns, a.added, a.outWritten, a.buffered, a.haveStats, a.haveWrite)
}

// readAccount parses the stats output and keeps the last report of each
// figure.
func readAccount(t *testing.T, path string, points int64) lossAccount {
	t.Helper()
	a := lossAccount{points: uint64(points)}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := &influx.Parser{}
	if err := p.Init(); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" {
			continue
		}
		ms, err := p.Parse([]byte(line + "\n"))
		if err != nil || len(ms) != 1 {
			continue // a line being written
		}
		m := ms[0]
		switch {
		case m.Name() == "nflog_stats" && m.HasField("packets_received_total"):
			// (The gauge read_buffer_bytes comes as a metric of its own.)
			a.haveStats = true
			a.received = field(m, "packets_received_total")
			a.lost = field(m, "packets_lost_total")
			a.decodeErrors = field(m, "decode_errors_total")
			a.notEmitted = field(m, "packet_metrics_not_emitted_total")
			a.overruns = field(m, "overruns_total")
		case m.Name() == "internal_write" && m.Tags()["alias"] == "packets":
			a.haveWrite = true
			a.added = field(m, "metrics_added")
			a.outWritten = field(m, "metrics_written")
			a.dropped = field(m, "metrics_dropped")
			a.buffered = field(m, "buffer_size")
		}
	}
	return a
}

func field(m telegraf.Metric, name string) uint64 {
	switch v := m.Fields()[name].(type) {
	case int64:
		return uint64(v)
	case uint64:
		return v
	case float64:
		return uint64(v)
	}
	return 0
}
