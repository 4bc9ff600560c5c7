//go:build linux

package nflog

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/testutil"

	"github.com/nflogr/telegraf-nflog/nflog"
	nftest "github.com/nflogr/telegraf-nflog/testutil"
)

// These tests run the plugin against the real kernel, each in a network
// namespace of its own with iptables NFLOG rules, and need root.

const testGroup = 7

func integration(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("kernel test skipped in short mode")
	}
}

// startInNamespace starts the plugin reading testGroup in ns.
func startInNamespace(t *testing.T, ns *nftest.NetNS, acc telegraf.Accumulator, mod func(*NFLOG)) *NFLOG {
	t.Helper()
	n := newPlugin(t, func(n *NFLOG) {
		n.Groups = []int{testGroup}
		n.Netns = ns.Path()
		n.FlushTimeout = 0 // deliver at once, the tests wait for packets
		n.QueueThreshold = 1
		if mod != nil {
			mod(n)
		}
	})
	require.NoError(t, n.Init())
	require.NoError(t, n.Start(acc))
	t.Cleanup(n.Stop)
	return n
}

func TestIntegrationPackets(t *testing.T) {
	integration(t)
	nftest.RequireTools(t, "iptables", "setpriv", "bash")
	ns := nftest.NewNetNS(t)
	g := strconv.Itoa(testGroup)
	ns.Iptables(t, "-A", "INPUT", "-p", "udp", "--dport", "9", "-j", "NFLOG", "--nflog-group", g, "--nflog-prefix", "DROP:lo")
	ns.Iptables(t, "-A", "OUTPUT", "-p", "udp", "--dport", "10", "-j", "MARK", "--set-mark", "0x2a")
	ns.Iptables(t, "-A", "OUTPUT", "-p", "udp", "--dport", "10", "-j", "NFLOG", "--nflog-group", g, "--nflog-prefix", "out")

	var acc testutil.Accumulator
	n := startInNamespace(t, ns, &acc, func(n *NFLOG) {
		n.PrefixPattern = `^(?P<action>[A-Z]+):(?P<zone>\w+)`
		n.ExtraTags = []string{"group", "hook", "gid", "ip_proto", "family"}
		n.ExtraFields = []string{"src", "dst", "dport", "seq", "captured_len", "ttl"}
	})

	const count = 20
	payload := make([]byte, 100)
	before := time.Now()
	nftest.SendUDP(t, ns, "127.0.0.1:9", payload, count)
	nftest.SendUDPAs(t, ns, 1234, 5678, netip.MustParseAddr("127.0.0.1"), 10, 3)
	require.Eventually(t, func() bool { return acc.NMetrics() >= count+3 }, 10*time.Second, 10*time.Millisecond,
		"got %d metrics", acc.NMetrics())
	after := time.Now()
	require.Empty(t, acc.Errors)

	var in []*testutil.Metric
	var out []*testutil.Metric
	for _, m := range acc.GetTelegrafMetrics() {
		tm := testutil.ToTestMetric(m)
		switch tm.Tags["prefix"] {
		case "DROP:lo":
			in = append(in, tm)
		case "out":
			out = append(out, tm)
		default:
			t.Fatalf("unexpected metric %v", m)
		}
	}
	require.Len(t, in, count)
	require.Len(t, out, 3)

	seen := make(map[int64]bool)
	for i, m := range in {
		require.Equal(t, "nflog", m.Measurement)
		require.Equal(t, map[string]string{
			"prefix": "DROP:lo", "action": "drop", "zone": "lo", "indev": "lo", "proto": "ipv4",
			"group": g, "hook": "input", "ip_proto": "udp", "family": "ipv4",
		}, m.Tags)
		ts := m.Fields["timestamp_us"].(int64)
		require.Equal(t, map[string]any{
			"len": int64(20 + 8 + 100), "mark": int64(0), "timestamp_us": ts,
			"src": "127.0.0.1", "dst": "127.0.0.1", "dport": int64(9), "seq": int64(i),
			"captured_len": int64(128), "ttl": int64(64),
		}, m.Fields)
		// The kernel's timestamp (INPUT has one), unique within the series.
		require.WithinRange(t, m.Time, before.Add(-time.Second), after)
		require.Equal(t, ts, m.Time.Truncate(time.Microsecond).UnixMicro())
		require.False(t, seen[m.Time.UnixNano()], "two metrics of one series at %v", m.Time)
		seen[m.Time.UnixNano()] = true
	}
	for i, m := range out {
		require.Equal(t, map[string]string{
			"prefix": "out", "outdev": "lo", "proto": "ipv4", "uid": "1234", "gid": "5678",
			"group": g, "hook": "output", "ip_proto": "udp", "family": "ipv4",
		}, m.Tags)
		require.Equal(t, int64(0x2a), m.Fields["mark"])
		require.Equal(t, int64(20+8+1), m.Fields["len"])
		require.Equal(t, int64(count+i), m.Fields["seq"], "one sequence per group")
		// No kernel timestamp at OUTPUT: the time of reception.
		require.WithinRange(t, m.Time, before, after)
	}

	var stats testutil.Accumulator
	require.NoError(t, n.Gather(&stats))
	st := statsFields(&stats)
	require.Equal(t, int64(count+3), st["packets_received_total"])
	require.Equal(t, int64(0), st["packets_lost_total"])
}

func TestIntegrationCountersAndStats(t *testing.T) {
	integration(t)
	nftest.RequireTools(t, "iptables")
	ns := nftest.NewNetNS(t)
	g := strconv.Itoa(testGroup)
	ns.Iptables(t, "-A", "INPUT", "-p", "udp", "--dport", "9", "-m", "comment", "--comment", "logged",
		"-j", "NFLOG", "--nflog-group", g, "--nflog-prefix", "udp9")
	ns.Iptables(t, "-A", "INPUT", "-p", "icmp", "-m", "comment", "--comment", "logged",
		"-j", "NFLOG", "--nflog-group", g, "--nflog-prefix", "icmp")

	var acc testutil.Accumulator
	n := startInNamespace(t, ns, &acc, func(n *NFLOG) { n.Metrics = "counters" })

	nftest.SendUDP(t, ns, "127.0.0.1:9", make([]byte, 50), 30)
	nftest.Ping(t, ns, "127.0.0.1", 5, 56)
	// The ICMP echo replies and port unreachables are logged too.
	stats := func() map[string]any {
		var a testutil.Accumulator
		require.NoError(t, n.Gather(&a))
		st := statsFields(&a)
		require.NotNil(t, st)
		return st
	}
	// Every packet the rules logged, by their counters (the kernel rate
	// limits the port unreachables, so their number varies), is received.
	require.Eventually(t, func() bool {
		logged, _ := nftest.IptablesCounter(t, ns, "iptables", "filter", "INPUT", "logged")
		return logged >= 30+5+5 && stats()["packets_received_total"].(int64) == int64(logged)
	}, 10*time.Second, 10*time.Millisecond)
	require.Zero(t, acc.NMetrics(), "no metric per packet in counters mode")

	var gathered testutil.Accumulator
	require.NoError(t, n.Gather(&gathered))
	counters := make(map[string]*testutil.Metric)
	for _, m := range gathered.Metrics {
		if m.Measurement == "nflog_counters" {
			require.Equal(t, telegraf.Counter, m.Type)
			counters[m.Tags["prefix"]] = m
		}
	}
	require.Contains(t, counters, "udp9")
	require.Equal(t, map[string]string{"prefix": "udp9", "indev": "lo", "proto": "ipv4"}, counters["udp9"].Tags)
	require.Equal(t, map[string]any{"packets_total": int64(30), "bytes_total": int64(30 * (20 + 8 + 50))}, counters["udp9"].Fields)
	require.Contains(t, counters, "icmp")
	// 5 echo requests and 5 replies, and up to 30 port unreachables.
	require.GreaterOrEqual(t, counters["icmp"].Fields["packets_total"], int64(10))

	for _, m := range gathered.Metrics {
		if m.Measurement == "nflog_stats" {
			require.Equal(t, map[string]string{"group": g}, m.Tags)
		}
	}
	st := statsFields(&gathered)
	require.Equal(t, counters["udp9"].Fields["packets_total"].(int64)+counters["icmp"].Fields["packets_total"].(int64),
		st["packets_received_total"])
	for _, f := range []string{"overruns_total", "packets_lost_total", "decode_errors_total", "buffer_growths_total", "counter_overflows_total", "packet_metrics_not_emitted_total"} {
		require.Equal(t, int64(0), st[f], f)
	}
	require.GreaterOrEqual(t, st["read_buffer_bytes"], int64(8<<20))
	require.Equal(t, st["packets_received_total"], n.stats.received.Get())
}

// TestIntegrationStopUnderFlood: Stop returns within 1 s in the middle of
// a flood, and the reading goroutine has ended, in both read modes.
func TestIntegrationStopUnderFlood(t *testing.T) {
	integration(t)
	nftest.RequireTools(t, "iptables")
	for _, mode := range []string{"netpoll", "blocking"} {
		t.Run(mode, func(t *testing.T) { stopUnderFlood(t, mode) })
	}
}

func stopUnderFlood(t *testing.T, mode string) {
	ns := nftest.NewNetNS(t)
	ns.Iptables(t, "-A", "OUTPUT", "-p", "udp", "-j", "NFLOG", "--nflog-group", strconv.Itoa(testGroup))

	acc := testutil.Accumulator{Discard: true}
	n := startInNamespace(t, ns, &acc, func(n *NFLOG) { n.FlushTimeout = 0; n.QueueThreshold = 64; n.ReadMode = mode })

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = nftest.Flood(ctx, ns, "127.0.0.1:9", 64, 10_000_000, 20*time.Second)
	}()
	require.Eventually(t, func() bool { return acc.NMetrics() > 10000 }, 10*time.Second, 10*time.Millisecond)

	start := time.Now()
	n.Stop()
	took := time.Since(start)
	cancel()
	wg.Wait()
	require.Less(t, took, time.Second, "Stop took %v under flood", took)
	select {
	case <-n.Done():
	default:
		t.Fatal("the reading goroutine is still running after Stop")
	}
	require.NoError(t, n.Err())
}

// blockingAccumulator blocks every metric until released, as Telegraf's
// accumulator does when its outputs fall behind.
type blockingAccumulator struct {
	testutil.Accumulator
	release chan struct{}
}

func (a *blockingAccumulator) AddFields(m string, f map[string]any, tags map[string]string, t ...time.Time) {
	<-a.release
	a.Accumulator.AddFields(m, f, tags, t...)
}

// AddMetric is how the plugin adds its packet metrics.
func (a *blockingAccumulator) AddMetric(m telegraf.Metric) {
	<-a.release
	a.Accumulator.AddMetric(m)
}

func TestIntegrationBackpressureIsCounted(t *testing.T) {
	integration(t)
	nftest.RequireTools(t, "iptables")
	ns := nftest.NewNetNS(t)
	ns.Iptables(t, "-A", "OUTPUT", "-p", "udp", "-j", "NFLOG", "--nflog-group", strconv.Itoa(testGroup))

	acc := &blockingAccumulator{release: make(chan struct{})}
	n := startInNamespace(t, ns, acc, func(n *NFLOG) {
		n.ReadBufferSize = 64 << 10
		n.MaxReadBufferSize = 0
		n.OnOverrun = "error"
	})
	// The plugin blocks on the first packet; the socket buffer fills up.
	sent, err := nftest.Flood(t.Context(), ns, "127.0.0.1:9", 64, 20000, 5*time.Second)
	require.NoError(t, err)
	close(acc.release)
	require.Eventually(t, func() bool {
		// Losses show as a gap in the sequence numbers once a later
		// message arrives, after the reader has drained the buffer.
		nftest.SendUDP(t, ns, "127.0.0.1:9", []byte("x"), 1)
		var a testutil.Accumulator
		require.NoError(t, n.Gather(&a))
		st := statsFields(&a)
		return st != nil && st["overruns_total"].(int64) > 0 && st["packets_lost_total"].(int64) > 0
	}, 10*time.Second, 50*time.Millisecond)

	n.Stop()
	st := n.reader.Stats()
	require.Less(t, st.Received, uint64(sent))
	t.Logf("sent %d, received %d, overruns %d, lost %d", sent, st.Received, st.Overruns, st.Lost)
	// on_overrun = "error" reports them, rate-limited.
	require.NotEmpty(t, acc.Errors)
	require.Less(t, len(acc.Errors), int(st.Overruns)+1)
	require.ErrorIs(t, acc.Errors[0], nflog.ErrOverrun)
}

func TestIntegrationStartErrors(t *testing.T) {
	integration(t)
	ns := nftest.NewNetNS(t)

	var acc testutil.Accumulator
	startInNamespace(t, ns, &acc, nil)

	second := newPlugin(t, func(n *NFLOG) { n.Groups = []int{testGroup}; n.Netns = ns.Name() })
	require.NoError(t, second.Init())
	err := second.Start(&acc)
	require.ErrorIs(t, err, nflog.ErrGroupBusy)
	require.ErrorContains(t, err, "opening NFLOG groups 7")
	second.Stop()
	require.True(t, errors.Is(err, nflog.ErrGroupBusy))
}

// Stopping Telegraf must not lose the packets the kernel still batches:
// Stop unbinds the group, the kernel sends its pending batch, and the
// plugin hands it to the accumulator before Stop returns.
func TestIntegrationStopDeliversPendingBatch(t *testing.T) {
	integration(t)
	nftest.RequireTools(t, "iptables")
	ns := nftest.NewNetNS(t)
	ns.Iptables(t, "-A", "OUTPUT", "-p", "udp", "--dport", "9", "-j", "NFLOG",
		"--nflog-group", strconv.Itoa(testGroup), "--nflog-threshold", "50")
	var acc testutil.Accumulator
	n := startInNamespace(t, ns, &acc, func(n *NFLOG) {
		n.QueueThreshold = 50
		n.FlushTimeout = config.Duration(time.Minute) // the kernel holds them
	})
	nftest.SendUDP(t, ns, "127.0.0.1:9", []byte("pending"), 7)
	// The kernel holds all seven in the group's batch (its queue length in
	// /proc), so none can have reached the plugin.
	require.Eventually(t, func() bool { return nftest.ProcNflogQueueLen(t, ns, testGroup) == 7 }, 5*time.Second, time.Millisecond)
	require.Zero(t, acc.NMetrics(), "the kernel still holds the batch")
	start := time.Now()
	n.Stop()
	require.Less(t, time.Since(start), time.Second)
	require.Equal(t, uint64(7), acc.NMetrics())
}

// Overruns grow the receive buffer up to max_read_buffer_size; the plugin
// says so once per interval in which it happened, and warns when the
// maximum is reached.
func TestIntegrationBufferGrowthIsLogged(t *testing.T) {
	integration(t)
	nftest.RequireTools(t, "iptables")
	ns := nftest.NewNetNS(t)
	ns.Iptables(t, "-A", "OUTPUT", "-p", "udp", "-j", "NFLOG", "--nflog-group", strconv.Itoa(testGroup))

	logger := &testutil.CaptureLogger{}
	acc := &blockingAccumulator{release: make(chan struct{})}
	n := startInNamespace(t, ns, acc, func(n *NFLOG) {
		n.Log = logger
		n.ReadBufferSize = 4 << 10
		n.MaxReadBufferSize = 8 << 10 // one doubling reaches it
	})
	// Blocked on the first packet, the reader cannot drain; its next
	// receive meets the overrun and doubles the buffer.
	_, err := nftest.Flood(t.Context(), ns, "127.0.0.1:9", 64, 2000, time.Second)
	require.NoError(t, err)
	close(acc.release)
	require.Eventually(t, func() bool {
		nftest.SendUDP(t, ns, "127.0.0.1:9", []byte("x"), 1)
		return n.reader.Stats().BufferGrowths >= 1
	}, 10*time.Second, 50*time.Millisecond)

	var a testutil.Accumulator
	require.NoError(t, n.Gather(&a))
	require.NoError(t, n.Gather(&a)) // nothing new: no second message
	var grew []string
	for _, m := range logger.Messages() {
		if strings.Contains(m.Text, "grew the receive buffer") {
			grew = append(grew, m.Text)
		}
	}
	require.Len(t, grew, 1, "one message for the interval in which it grew: %v", logger.Messages())
	require.Contains(t, grew[0], "to 8192 bytes, its maximum")
	require.Equal(t, int64(8192), statsFields(&a)["read_buffer_bytes"])
}
