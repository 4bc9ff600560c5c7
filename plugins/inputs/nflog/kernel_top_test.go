//go:build linux

package nflog

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/testutil"

	nftest "github.com/nflogr/telegraf-nflog/testutil"
)

// sendUDPFrom sends count datagrams of payload from src (an address of the
// namespace) to dst, a loopback address of the same namespace.
func sendUDPFrom(t *testing.T, ns *nftest.NetNS, src, dst string, payload []byte, count int) {
	t.Helper()
	to := netip.MustParseAddrPort(dst)
	require.True(t, to.Addr().IsLoopback(), "traffic goes to loopback only")
	require.LessOrEqual(t, count, 10000)
	var conn net.PacketConn
	require.NoError(t, ns.Do(func() (err error) {
		conn, err = net.ListenPacket("udp", net.JoinHostPort(src, "0"))
		return err
	}))
	defer conn.Close()
	require.NoError(t, conn.SetWriteDeadline(time.Now().Add(10*time.Second)))
	for range count {
		_, err := conn.WriteTo(payload, net.UDPAddrFromAddrPort(to))
		require.NoError(t, err)
	}
}

// gatherTop returns the nflog_top points of one Gather by ranking and key
// (the key's tags in the ranking's order, joined by "|").
func gatherTop(t *testing.T, n *NFLOG, keys map[string][]string) (map[string]map[string][2]int64, *testutil.Accumulator) {
	t.Helper()
	var acc testutil.Accumulator
	require.NoError(t, n.Gather(&acc))
	got := map[string]map[string][2]int64{}
	for _, m := range acc.GetTelegrafMetrics() {
		if m.Name() != measurementTop {
			continue
		}
		require.Equal(t, telegraf.Gauge, m.Type())
		r, _ := m.GetTag("ranking")
		var key string
		for i, part := range keys[r] {
			v, ok := m.GetTag(part)
			require.True(t, ok, "%v has no tag %q", m, part)
			if i > 0 {
				key += "|"
			}
			key += v
		}
		p, _ := m.GetField("packets")
		b, _ := m.GetField("bytes")
		over, _ := m.GetField("max_overcount")
		require.Equal(t, int64(0), over, "few keys: every count is exact")
		if got[r] == nil {
			got[r] = map[string][2]int64{}
		}
		got[r][key] = [2]int64{p.(int64), b.(int64)}
	}
	return got, &acc
}

// Several sources, networks and ports with known counts, through a real
// NFLOG rule: each ranking reports them exactly.
func TestIntegrationTopTalkers(t *testing.T) {
	integration(t)
	nftest.RequireTools(t, "iptables", "ip6tables", "ip")
	ns := nftest.NewNetNS(t)
	for _, a := range []string{"10.9.0.1/32", "10.9.0.2/32", "10.9.1.1/32"} {
		ns.Run(t, "ip", "addr", "add", a, "dev", "lo")
	}
	ns.Run(t, "ip", "-6", "addr", "add", "fd00:9::1/128", "dev", "lo", "nodad")
	g := strconv.Itoa(testGroup)
	ns.Iptables(t, "-A", "INPUT", "-p", "udp", "-j", "NFLOG", "--nflog-group", g, "--nflog-prefix", "DROP:wan")
	ns.Ip6tables(t, "-A", "INPUT", "-p", "udp", "-j", "NFLOG", "--nflog-group", g, "--nflog-prefix", "DROP:wan6")

	keys := map[string][]string{
		"src": {"src"}, "src_net": {"src_net"}, "dport": {"dport"},
		"net_port": {"src_net", "dport"}, "zone": {"zone", "ip_proto"},
	}
	n := startInNamespace(t, ns, &testutil.Accumulator{}, func(n *NFLOG) {
		n.PrefixPattern = `^(?P<action>[A-Z]+):(?P<zone>\w+)`
		withTop("counters,top",
			rankingConfig{Name: "src", Key: keys["src"]},
			rankingConfig{Name: "src_net", Key: keys["src_net"]},
			rankingConfig{Name: "dport", Key: keys["dport"], Size: intp(2)},
			rankingConfig{Name: "net_port", Key: keys["net_port"], By: "bytes"},
			rankingConfig{Name: "zone", Key: keys["zone"]},
		)(n)
	})

	// IP lengths: 20 + 8 + payload, IPv6 40 + 8 + payload.
	sendUDPFrom(t, ns, "10.9.0.1", "127.0.0.1:1001", make([]byte, 10), 30) // 38 bytes
	sendUDPFrom(t, ns, "10.9.0.2", "127.0.0.1:1002", make([]byte, 20), 20) // 48
	sendUDPFrom(t, ns, "10.9.1.1", "127.0.0.1:1001", make([]byte, 30), 10) // 58
	sendUDPFrom(t, ns, "fd00:9::1", "[::1]:1003", make([]byte, 40), 5)     // 88
	const total = 30 + 20 + 10 + 5
	require.Eventually(t, func() bool { return n.reader.Stats().Received >= total }, 10*time.Second, 10*time.Millisecond)

	got, acc := gatherTop(t, n, keys)
	require.Equal(t, map[string]map[string][2]int64{
		"src": {
			"10.9.0.1": {30, 30 * 38}, "10.9.0.2": {20, 20 * 48}, "10.9.1.1": {10, 10 * 58}, "fd00:9::1": {5, 5 * 88},
			"other": {0, 0},
		},
		"src_net": {
			"10.9.0.0/24": {50, 30*38 + 20*48}, "10.9.1.0/24": {10, 10 * 58}, "fd00:9::/64": {5, 5 * 88},
			"other": {0, 0},
		},
		"dport": { // size 2: 1003 is folded into "other"
			"1001": {40, 30*38 + 10*58}, "1002": {20, 20 * 48}, "other": {5, 5 * 88},
		},
		"net_port": {
			"10.9.0.0/24|1001": {30, 30 * 38}, "10.9.0.0/24|1002": {20, 20 * 48},
			"10.9.1.0/24|1001": {10, 10 * 58}, "fd00:9::/64|1003": {5, 5 * 88},
			"other|other": {0, 0},
		},
		"zone": {
			"wan|udp": {60, 30*38 + 20*48 + 10*58}, "wan6|udp": {5, 5 * 88}, "other|other": {0, 0},
		},
	}, got)

	// Against the counters and the statistics of the same Gather.
	packets, bytes := countersSums(acc)
	st := statsFields(acc)
	require.Equal(t, int64(total), st["packets_received_total"])
	require.Equal(t, int64(total), packets)
	tp, tb := topSums(acc)
	for r := range keys {
		require.Equal(t, packets, tp[r], r)
		require.Equal(t, bytes, tb[r], r)
	}
	// The ranks of the source ranking follow the counts.
	for _, m := range acc.GetTelegrafMetrics() {
		if r, _ := m.GetTag("ranking"); r == "src" {
			s, _ := m.GetTag("src")
			rank, _ := m.GetField("rank")
			want := map[string]int64{"10.9.0.1": 1, "10.9.0.2": 2, "10.9.1.1": 3, "fd00:9::1": 4, "other": 0}[s]
			require.Equal(t, want, rank, s)
		}
	}
}

// packetCounter counts the packet metrics (added with AddMetric) and
// drops everything.
type packetCounter struct {
	testutil.Accumulator
	packets atomic.Int64
}

func (a *packetCounter) AddMetric(telegraf.Metric) { a.packets.Add(1) }

// Under a flood with packet_metrics_per_second = 1000, at most about that
// many packet metrics a second reach the output (plus the burst), while
// counters, rankings and packets_received count every packet.
func TestIntegrationPacketMetricsRateLimitUnderFlood(t *testing.T) {
	integration(t)
	nftest.RequireTools(t, "iptables")
	ns := nftest.NewNetNS(t)
	ns.Iptables(t, "-A", "OUTPUT", "-p", "udp", "--dport", "9", "-j", "NFLOG", "--nflog-group", strconv.Itoa(testGroup))

	const limit = 1000
	acc := &packetCounter{}
	start := time.Now()
	n := startInNamespace(t, ns, acc, func(n *NFLOG) {
		withTop("packets,counters,top", rankingConfig{Name: "dport", Key: []string{"dport"}})(n)
		n.PacketMetricsPerSecond = limit
		n.QueueThreshold = 64
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	sent, err := nftest.Flood(ctx, ns, "127.0.0.1:9", 64, 50_000, 20*time.Second)
	require.NoError(t, err)
	require.Positive(t, sent)
	// Every packet sent is received or counted lost (sequence numbers);
	// the last batch arrives within flush_timeout.
	require.Eventually(t, func() bool {
		st := n.reader.Stats()
		return st.Received+st.Lost >= uint64(sent)
	}, 10*time.Second, 10*time.Millisecond)

	var gathered testutil.Accumulator
	require.NoError(t, n.Gather(&gathered))
	elapsed := time.Since(start)
	st := statsFields(&gathered)
	received := st["packets_received_total"].(int64)
	emitted := acc.packets.Load()
	t.Logf("sent %d, received %d, lost %d, packet metrics %d, not emitted %d, in %v",
		sent, received, st["packets_lost_total"], emitted, st["packet_metrics_not_emitted_total"], elapsed)
	require.Equal(t, int64(sent), received+st["packets_lost_total"].(int64))
	require.LessOrEqual(t, float64(emitted), limit*elapsed.Seconds()+limit+1, "packet metrics beyond the limit")
	require.Equal(t, received, emitted+st["packet_metrics_not_emitted_total"].(int64))
	require.Positive(t, st["packet_metrics_not_emitted_total"])
	packets, _ := countersSums(&gathered)
	require.Equal(t, received, packets, "counters count every packet")
	top, _ := topSums(&gathered)
	require.Equal(t, received, top["dport"], "rankings count every packet")
}
