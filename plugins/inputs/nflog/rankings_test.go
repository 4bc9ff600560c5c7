//go:build linux

package nflog

import (
	"bytes"
	"context"
	"encoding/binary"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/metric"
	"github.com/influxdata/telegraf/selfstat"
	"github.com/influxdata/telegraf/testutil"

	"github.com/nflogr/telegraf-nflog/nflog"
)

func intp(v int) *int { return &v }

// withTop turns rankings on: metrics gets "top" and the tables.
func withTop(metrics string, tables ...rankingConfig) func(*NFLOG) {
	return func(n *NFLOG) {
		n.Metrics = metrics
		n.Top = tables
	}
}

func TestParseMetricKinds(t *testing.T) {
	for s, want := range map[string]metricKinds{
		"":                     {packets: true},
		"packets":              {packets: true},
		"counters":             {counters: true},
		"both":                 {packets: true, counters: true},
		"top":                  {top: true},
		"counters,top":         {counters: true, top: true},
		" packets , top ":      {packets: true, top: true},
		"packets,counters,top": {packets: true, counters: true, top: true},
		"both,top":             {packets: true, counters: true, top: true},
	} {
		got, err := parseMetricKinds(s)
		require.NoError(t, err, s)
		require.Equal(t, want, got, s)
	}
	for _, s := range []string{"all", "packets,", "packets,,top", "counters;top", "Top"} {
		_, err := parseMetricKinds(s)
		require.ErrorContains(t, err, "invalid metrics", s)
	}
}

func TestRankingInitErrors(t *testing.T) {
	src := rankingConfig{Name: "src", Key: []string{"src"}}
	tests := []struct {
		name string
		mod  func(*NFLOG)
		want string // the error must contain it
	}{
		{"top without tables", withTop("counters,top"), `no [[inputs.nflog.top]] table`},
		{"tables without top", withTop("counters", src), `metrics does not include "top"`},
		{"unknown kind", withTop("counters,tops", src), `unknown kind "tops"`},
		{"no name", withTop("top", rankingConfig{Key: []string{"src"}}), `"name" is required`},
		{"name with a newline", withTop("top", rankingConfig{Name: "a\nb", Key: []string{"src"}}), `invalid name`},
		{"duplicate name", withTop("top", src, rankingConfig{Name: "src", Key: []string{"dst"}}), `two [[inputs.nflog.top]] tables are named "src"`},
		{"no key", withTop("top", rankingConfig{Name: "x"}), `"key" is required`},
		{"unknown part", withTop("top", rankingConfig{Name: "x", Key: []string{"source"}}), `invalid key part "source"`},
		{"part twice", withTop("top", rankingConfig{Name: "x", Key: []string{"dport", "dport"}}), `listed twice`},
		{"address and network", withTop("top", rankingConfig{Name: "x", Key: []string{"src", "src_net"}}), `adds nothing`},
		{"too many tags", withTop("top", rankingConfig{Name: "x", Key: []string{"prefix", "indev", "outdev", "hook", "group"}}), `at most 4`},
		{"size 0", withTop("top", rankingConfig{Name: "x", Key: []string{"src"}, Size: intp(0)}), `invalid size 0`},
		{"size negative", withTop("top", rankingConfig{Name: "x", Key: []string{"src"}, Size: intp(-1)}), `invalid size -1`},
		{"size too large", withTop("top", rankingConfig{Name: "x", Key: []string{"src"}, Size: intp(maxRankingSize + 1)}), `invalid size`},
		{"by", withTop("top", rankingConfig{Name: "x", Key: []string{"src"}, By: "flows"}), `invalid by "flows"`},
		{"ipv4_mask", withTop("top", rankingConfig{Name: "x", Key: []string{"src_net"}, IPv4Mask: intp(33)}), `invalid ipv4_mask 33`},
		{"ipv4_mask negative", withTop("top", rankingConfig{Name: "x", Key: []string{"src_net"}, IPv4Mask: intp(-1)}), `invalid ipv4_mask -1`},
		{"ipv6_mask", withTop("top", rankingConfig{Name: "x", Key: []string{"src_net"}, IPv6Mask: intp(129)}), `invalid ipv6_mask 129`},
		{"summary_size below size", withTop("top", rankingConfig{Name: "x", Key: []string{"src"}, Size: intp(10), SummarySize: 9}), `invalid summary_size 9`},
		{"summary_size too large", withTop("top", rankingConfig{Name: "x", Key: []string{"src"}, SummarySize: maxSummarySize + 1}), `invalid summary_size`},
		{"plugin ipv4_mask", func(n *NFLOG) { n.IPv4Mask = 40 }, `invalid ipv4_mask 40`},
		{"plugin ipv6_mask", func(n *NFLOG) { n.IPv6Mask = -1 }, `invalid ipv6_mask -1`},
		{"rate limit", func(n *NFLOG) { n.PacketMetricsPerSecond = -1 }, `invalid packet_metrics_per_second -1`},
		{"group named like a part", func(n *NFLOG) {
			n.PrefixPattern = `^(?P<dport>\d+)`
			withTop("top", rankingConfig{Name: "x", Key: []string{"dport"}})(n)
		}, `ambiguous`},
		{"group named ranking", func(n *NFLOG) {
			n.PrefixPattern = `^(?P<ranking>\w+)`
			withTop("top", rankingConfig{Name: "x", Key: []string{"ranking"}})(n)
		}, `"ranking" tag`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := newPlugin(t, tt.mod).Init()
			require.ErrorContains(t, err, tt.want)
			require.NotContains(t, err.Error(), "\n")
		})
	}
}

func TestRankingInitAccepts(t *testing.T) {
	n := newPlugin(t, func(n *NFLOG) {
		n.PrefixPattern = `^(?P<action>[A-Z]+):(?P<zone>\w+)`
		withTop("packets, counters ,top",
			rankingConfig{Name: "src", Key: []string{"src"}},
			rankingConfig{Name: "pair", Key: []string{"src_net", "dst_net", "sport", "dport", "ip_proto"}, IPv4Mask: intp(0), IPv6Mask: intp(128)},
			rankingConfig{Name: "tags", Key: []string{"action", "zone", "hook", "group"}, Size: intp(1), By: "bytes", SummarySize: 1},
			rankingConfig{Name: "devices", Key: []string{"prefix", "indev", "outdev"}, Size: intp(maxRankingSize)},
		)(n)
	})
	require.NoError(t, n.Init())
	r := n.build.rankings
	require.Len(t, r.list, 4)
	require.Equal(t, defaultRankingSize, r.list[0].size)
	require.Equal(t, netMasks{24, 64}, r.list[0].shape.masks, "the plugin's masks by default")
	require.Equal(t, netMasks{0, 128}, r.list[1].shape.masks)
	require.True(t, r.list[2].byBytes)
	require.Equal(t, []string{"action", "zone", "hook", "group"}, r.list[2].shape.tagNames)
}

// Telegraf's loader fills the tables of a list, leaving unset options
// nil, and rejects unknown keys in them.
func TestRankingTablesThroughTelegrafLoader(t *testing.T) {
	c := config.NewConfig()
	require.NoError(t, c.LoadConfigData([]byte(`
[[inputs.nflog]]
  groups = [5]
  metrics = "counters,top"
  ipv4_mask = 16
  [[inputs.nflog.top]]
    name = "src_net"
    key = ["src_net"]
    size = 3
    ipv6_mask = 48
  [[inputs.nflog.top]]
    name = "dport"
    key = ["dport"]
    by = "bytes"
`), config.EmptySourcePath))
	n := c.Inputs[0].Input.(*NFLOG)
	t.Cleanup(n.Statistics.UnregisterAll)
	require.Equal(t, []rankingConfig{
		{Name: "src_net", Key: []string{"src_net"}, Size: intp(3), IPv6Mask: intp(48)},
		{Name: "dport", Key: []string{"dport"}, By: "bytes"},
	}, n.Top)
	require.NoError(t, n.Init())
	require.Equal(t, netMasks{16, 48}, n.build.rankings.list[0].shape.masks)
	require.Equal(t, 3, n.build.rankings.list[0].size)

	c = config.NewConfig()
	err := c.LoadConfigData([]byte(`
[[inputs.nflog]]
  groups = [5]
  metrics = "top"
  [[inputs.nflog.top]]
    name = "src"
    keys = ["src"]
`), config.EmptySourcePath)
	require.ErrorContains(t, err, "keys")
}

// The example ranking of sample.conf, uncommented, is a valid table.
func TestSampleConfigRankingExample(t *testing.T) {
	i := strings.Index(sampleConfig, "  ##   [[inputs.nflog.top]]\n")
	require.GreaterOrEqual(t, i, 0, "no example table in sample.conf")
	var table strings.Builder
	for line := range strings.Lines(sampleConfig[i:]) {
		body, ok := strings.CutPrefix(line, "  ##   ")
		if !ok {
			break
		}
		table.WriteString(body)
	}
	c := config.NewConfig()
	require.NoError(t, c.LoadConfigData([]byte("[[inputs.nflog]]\n  groups = [5]\n  metrics = \"counters,top\"\n"+table.String()), config.EmptySourcePath))
	n := c.Inputs[0].Input.(*NFLOG)
	t.Cleanup(n.Statistics.UnregisterAll)
	require.Len(t, n.Top, 1)
	require.NoError(t, n.Init())
	require.Equal(t, []string{"src_net", "dport"}, n.build.rankings.list[0].shape.names)
}

// topPoint is an expected nflog_top point.
func topPoint(tags map[string]string, packets, bytes, overcount, rank int64) telegraf.Metric {
	return metric.New("nflog_top", tags, map[string]any{
		"packets": packets, "bytes": bytes, "max_overcount": overcount, "rank": rank,
	}, time.Unix(0, 0), telegraf.Gauge)
}

// rankingPackets is a capture of rankingMessages.
func rankingPackets(t *testing.T) []byte {
	return capture(t, rankingMessages()...)
}

// rankingMessages are a few sources, networks and ports, with known
// counts: 17 packets, 1022 bytes.
func rankingMessages() []message {
	in := func(prefix string, l3 []byte) message {
		attrs := []attr{hdrAttr(0x0800, nflog.HookInput), tsAttr(t0), u32Attr(nflog.AttrInDev, 1), payloadAttr(l3)}
		if l3[0]>>4 == 6 {
			attrs[0] = hdrAttr(0x86dd, nflog.HookInput)
		}
		if prefix != "" {
			attrs = append(attrs, prefixAttr(prefix))
		}
		family := nflog.FamilyIPv4
		if l3[0]>>4 == 6 {
			family = nflog.FamilyIPv6
		}
		return msg(family, 5, recorded, attrs...)
	}
	var msgs []message
	add := func(n int, m message) {
		for range n {
			msgs = append(msgs, m)
		}
	}
	add(5, in("DROP:wan", ipv4("10.0.0.1", "192.0.2.9", 17, 40, udp(1000, 22, 12))))
	add(3, in("ACCEPT:lan", ipv4("10.0.0.2", "192.0.2.9", 17, 100, udp(1000, 80, 72))))
	add(4, in("DROP:wan", ipv4("10.0.1.1", "192.0.2.9", 17, 60, udp(1000, 22, 32))))
	add(1, in("DROP:wan", ipv6("2001:db8::1", "2001:db8::2", 17, 18, udp(1000, 53, 10))))
	add(2, in("DROP:wan", ipv4("10.0.0.1", "192.0.2.9", 1, 84, icmp(8, 0)))) // a ping cut by the copy range
	// An ARP request: addresses that are not IP hosts.
	arp := []byte{0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 192, 0, 2, 2}
	add(2, msg(nflog.FamilyARP, 5, recorded, hdrAttr(0x0806, 1), payloadAttr(arp)))
	return msgs
}

// With no more distinct keys than a summary holds, every count is exact
// (max_overcount 0), each ranking reports its top entries by rank, and
// "other" holds the rest.
func TestRankingsExactWithFewKeys(t *testing.T) {
	n := newPlugin(t, func(n *NFLOG) {
		n.PrefixPattern = `^(?P<action>[A-Z]+):(?P<zone>\w+)`
		withTop("top",
			rankingConfig{Name: "src", Key: []string{"src"}},
			rankingConfig{Name: "src_net", Key: []string{"src_net"}, Size: intp(2)},
			rankingConfig{Name: "dport", Key: []string{"dport"}},
			rankingConfig{Name: "action_dport", Key: []string{"action", "dport"}, By: "bytes"},
			rankingConfig{Name: "proto", Key: []string{"group", "hook", "ip_proto"}, By: "bytes"},
		)(n)
	})
	acc := replay(t, n, rankingPackets(t))
	require.Empty(t, acc.Metrics, "no metric per packet without \"packets\"")
	require.NoError(t, n.Gather(acc))

	tags := func(ranking string, kv ...string) map[string]string {
		m := map[string]string{"ranking": ranking}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	want := []telegraf.Metric{
		topPoint(tags("src", "src", "10.0.0.1"), 7, 368, 0, 1),
		topPoint(tags("src", "src", "10.0.1.1"), 4, 240, 0, 2),
		topPoint(tags("src", "src", "10.0.0.2"), 3, 300, 0, 3),
		topPoint(tags("src", "src", "none"), 2, 56, 0, 4),
		topPoint(tags("src", "src", "2001:db8::1"), 1, 58, 0, 5),
		topPoint(tags("src", "src", "other"), 0, 0, 0, 0),

		topPoint(tags("src_net", "src_net", "10.0.0.0/24"), 10, 668, 0, 1),
		topPoint(tags("src_net", "src_net", "10.0.1.0/24"), 4, 240, 0, 2),
		topPoint(tags("src_net", "src_net", "other"), 3, 114, 0, 0),

		topPoint(tags("dport", "dport", "22"), 9, 440, 0, 1),
		topPoint(tags("dport", "dport", "none"), 4, 224, 0, 2),
		topPoint(tags("dport", "dport", "80"), 3, 300, 0, 3),
		topPoint(tags("dport", "dport", "53"), 1, 58, 0, 4),
		topPoint(tags("dport", "dport", "other"), 0, 0, 0, 0),

		topPoint(tags("action_dport", "action", "drop", "dport", "22"), 9, 440, 0, 1),
		topPoint(tags("action_dport", "action", "accept", "dport", "80"), 3, 300, 0, 2),
		topPoint(tags("action_dport", "action", "drop", "dport", "none"), 2, 168, 0, 3),
		topPoint(tags("action_dport", "action", "drop", "dport", "53"), 1, 58, 0, 4),
		topPoint(tags("action_dport", "action", "none", "dport", "none"), 2, 56, 0, 5),
		topPoint(tags("action_dport", "action", "other", "dport", "other"), 0, 0, 0, 0),

		topPoint(tags("proto", "group", "5", "hook", "input", "ip_proto", "udp"), 13, 798, 0, 1),
		topPoint(tags("proto", "group", "5", "hook", "input", "ip_proto", "icmp"), 2, 168, 0, 2),
		topPoint(tags("proto", "group", "5", "hook", "output", "ip_proto", "none"), 2, 56, 0, 3),
		topPoint(tags("proto", "group", "other", "hook", "other", "ip_proto", "other"), 0, 0, 0, 0),
	}
	var got []telegraf.Metric
	for _, m := range acc.GetTelegrafMetrics() {
		if m.Name() == measurementTop {
			got = append(got, m)
		}
	}
	testutil.RequireMetricsEqual(t, want, got, testutil.IgnoreTime())
	require.Equal(t, int64(17), statsFields(acc)["packets_received_total"])

	// The next interval starts from zero: only the "other" points, at 0.
	acc.ClearMetrics()
	require.NoError(t, n.Gather(acc))
	var others int
	for _, m := range acc.GetTelegrafMetrics() {
		if m.Name() != measurementTop {
			continue
		}
		others++
		require.Equal(t, int64(0), m.Fields()["packets"], "%v", m)
		require.Equal(t, int64(0), m.Fields()["rank"], "%v", m)
	}
	require.Equal(t, 5, others)
}

// packetSource is a decoded UDP packet whose source address and ports the
// test rewrites in place, to feed the builder millions of packets without
// encoding and decoding each.
type packetSource struct {
	p       nflog.Packet
	srcOff  int // of the IPv4 source address in p.Payload
	portOff int // of the UDP header
}

func newPacketSource(tb testing.TB, prefix string, length int) *packetSource {
	tb.Helper()
	data := capture(&testing.T{}, msg(nflog.FamilyIPv4, 5, recorded,
		hdrAttr(0x0800, nflog.HookInput), tsAttr(t0), u32Attr(nflog.AttrInDev, 1),
		payloadAttr(ipv4("10.0.0.1", "192.0.2.9", 17, length, udp(1000, 22, length-28))), prefixAttr(prefix)))
	r, err := nflog.NewFileReader(bytes.NewReader(data), nil)
	require.NoError(tb, err)
	p, err := r.Next(context.Background())
	require.NoError(tb, err)
	return &packetSource{p: p, srcOff: 12, portOff: 20}
}

func (s *packetSource) set(src uint32, dport uint16) *nflog.Packet {
	binary.BigEndian.PutUint32(s.p.Payload[s.srcOff:], src)
	binary.BigEndian.PutUint16(s.p.Payload[s.portOff+2:], dport)
	return &s.p
}

// topSums adds up the nflog_top points of each ranking.
func topSums(acc *testutil.Accumulator) (packets, bytes map[string]int64) {
	packets, bytes = map[string]int64{}, map[string]int64{}
	for _, m := range acc.GetTelegrafMetrics() {
		if m.Name() != measurementTop {
			continue
		}
		r, _ := m.GetTag("ranking")
		p, _ := m.GetField("packets")
		b, _ := m.GetField("bytes")
		packets[r] += p.(int64)
		bytes[r] += b.(int64)
	}
	return packets, bytes
}

// countersSums adds up the nflog_counters points.
func countersSums(acc *testutil.Accumulator) (packets, bytes int64) {
	for _, m := range acc.GetTelegrafMetrics() {
		if m.Name() == measurementCounters {
			p, _ := m.GetField("packets_total")
			b, _ := m.GetField("bytes_total")
			packets += p.(int64)
			bytes += b.(int64)
		}
	}
	return packets, bytes
}

// Far more keys than the summaries hold: in every interval each ranking's
// entries and "other" add up exactly to the packets and bytes counted, as
// the counters count them, and to packets_received.
func TestRankingsAddUpExactly(t *testing.T) {
	n := newPlugin(t, withTop("counters,top",
		rankingConfig{Name: "src", Key: []string{"src"}},
		rankingConfig{Name: "src_net", Key: []string{"src_net"}, Size: intp(5), By: "bytes"},
		rankingConfig{Name: "pair", Key: []string{"src", "dport"}, Size: intp(3), SummarySize: 3},
	))
	require.NoError(t, n.Init())
	src := newPacketSource(t, "DROP:wan", 60)
	rng := rand.New(rand.NewPCG(1, 2))
	var lastPackets, lastBytes int64
	for interval := range 3 {
		for range 20000 + interval*7919 {
			// A few heavy sources among many light ones.
			a := 0x0a000000 | rng.Uint32N(50000)
			if rng.IntN(4) == 0 {
				a = 0x0a000001 + rng.Uint32N(3)
			}
			src.p.Payload[3] = byte(40 + rng.IntN(100)) // total length: bytes vary
			n.build.add(nopAccumulator{}, src.set(a, uint16(rng.IntN(3))))
		}
		var acc testutil.Accumulator
		require.NoError(t, n.Gather(&acc))
		cp, cb := countersSums(&acc)
		packets, bytes := topSums(&acc)
		require.Len(t, packets, 3)
		for _, r := range []string{"src", "src_net", "pair"} {
			require.Equal(t, cp-lastPackets, packets[r], "interval %d, ranking %s: packets", interval, r)
			require.Equal(t, cb-lastBytes, bytes[r], "interval %d, ranking %s: bytes", interval, r)
		}
		lastPackets, lastBytes = cp, cb
		// The heavy sources are reported, with a bounded over-count.
		var reported int
		for _, m := range acc.GetTelegrafMetrics() {
			if r, _ := m.GetTag("ranking"); r == "src" && m.Name() == measurementTop {
				if rank, _ := m.GetField("rank"); rank.(int64) > 0 {
					reported++
					over, _ := m.GetField("max_overcount")
					p, _ := m.GetField("packets")
					require.Less(t, over.(int64), p.(int64), "reported with a positive guaranteed count")
				}
			}
		}
		require.GreaterOrEqual(t, reported, 3)
	}

	// And against packets_received, through the reader.
	n2 := newPlugin(t, withTop("counters,top", rankingConfig{Name: "src", Key: []string{"src"}, Size: intp(2), SummarySize: 2}))
	acc := replay(t, n2, rankingPackets(t))
	require.NoError(t, n2.Gather(acc))
	packets, _ := topSums(acc)
	require.Equal(t, statsFields(acc)["packets_received_total"], packets["src"])
}

// A ranking by bytes counts packets without a length (copy_mode = "meta")
// in "other", so that its points still add up to every packet.
func TestRankingByBytesCountsPacketsWithoutLength(t *testing.T) {
	n := newPlugin(t, withTop("counters,top", rankingConfig{Name: "src", Key: []string{"src"}, By: "bytes"}))
	acc := replay(t, n, capture(t,
		msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, nflog.HookInput), prefixAttr("meta")),
		msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, nflog.HookInput), prefixAttr("meta")),
		msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, nflog.HookInput), payloadAttr(ipv4("10.0.0.1", "10.0.0.2", 17, 28, udp(1, 2, 0)))),
	))
	require.NoError(t, n.Gather(acc))
	var got []telegraf.Metric
	for _, m := range acc.GetTelegrafMetrics() {
		if m.Name() == measurementTop {
			got = append(got, m)
		}
	}
	testutil.RequireMetricsEqual(t, []telegraf.Metric{
		topPoint(map[string]string{"ranking": "src", "src": "10.0.0.1"}, 1, 28, 0, 1),
		topPoint(map[string]string{"ranking": "src", "src": "other"}, 2, 0, 0, 0),
	}, got, testutil.IgnoreTime())
}

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// A flood from 10 million random source addresses does not grow the heap
// beyond what 1,000 sources use: the summaries are bounded by summary_size,
// and so are the strings their keys hold.
func TestRankingsHeapBoundedUnderRandomSources(t *testing.T) {
	total := 10_000_000
	if raceEnabled || testing.Short() {
		total = 1_000_000 // the race detector makes each packet ~10 times slower
	}
	const interval = 1_000_000 // packets between Gathers
	n := newPlugin(t, withTop("counters,top",
		rankingConfig{Name: "src", Key: []string{"src"}, Size: intp(20)},
		rankingConfig{Name: "src_net", Key: []string{"src_net"}, Size: intp(20)},
		rankingConfig{Name: "src_dport", Key: []string{"src", "dport", "prefix"}, Size: intp(20)},
	))
	require.NoError(t, n.Init())
	src := newPacketSource(t, "DROP:wan", 60)
	rng := rand.New(rand.NewPCG(3, 4))
	feed := func(packets int, addr func() uint32) {
		for i := range packets {
			n.build.add(nopAccumulator{}, src.set(addr(), uint16(rng.IntN(1024))))
			if (i+1)%interval == 0 {
				require.NoError(t, n.Gather(&testutil.Accumulator{Discard: true}))
			}
		}
		require.NoError(t, n.Gather(&testutil.Accumulator{Discard: true}))
	}

	feed(interval, func() uint32 { return 0x0a000000 + rng.Uint32N(1000) })
	base := heapInUse()
	feed(total, rng.Uint32)
	after := heapInUse()
	t.Logf("live heap: %d bytes after 1,000 sources, %d after %d random ones", base, after, total)
	// A little slack for the runtime's own bookkeeping, far below what
	// keeping even 1% of the sources would take.
	require.LessOrEqual(t, after, base+base/10+256<<10, "the heap grew with the number of sources")
}

// Counters can carry the networks of the addresses, masked by the
// plugin's ipv4_mask and ipv6_mask; so can packet metrics.
func TestNetworkTags(t *testing.T) {
	in := func(l3 []byte, etherType uint16) message {
		return msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(etherType, nflog.HookInput), tsAttr(t0), payloadAttr(l3))
	}
	data := capture(t,
		in(ipv4("10.1.2.3", "192.0.2.9", 17, 28, udp(1, 2, 0)), 0x0800),
		in(ipv4("10.1.2.200", "192.0.2.10", 17, 28, udp(1, 2, 0)), 0x0800),
		in(ipv4("10.1.3.1", "192.0.2.9", 17, 28, udp(1, 2, 0)), 0x0800),
		in(ipv6("2001:db8:0:1::1", "2001:db8:ff::2", 17, 8, udp(1, 2, 0)), 0x86dd),
	)
	n := newPlugin(t, func(n *NFLOG) {
		n.Metrics = "both"
		n.ExtraTags = []string{"src_net", "dst_net"}
		n.IPv4Mask, n.IPv6Mask = 16, 48
	})
	acc := replay(t, n, data)
	require.NoError(t, n.Gather(acc))
	packets := map[[2]string]int64{}
	var nets [][2]string
	for _, m := range acc.GetTelegrafMetrics() {
		s, _ := m.GetTag("src_net")
		d, _ := m.GetTag("dst_net")
		switch m.Name() {
		case measurementPackets:
			nets = append(nets, [2]string{s, d})
		case measurementCounters:
			v, _ := m.GetField("packets_total")
			packets[[2]string{s, d}] = v.(int64)
		}
	}
	require.Equal(t, [][2]string{
		{"10.1.0.0/16", "192.0.0.0/16"}, {"10.1.0.0/16", "192.0.0.0/16"}, {"10.1.0.0/16", "192.0.0.0/16"},
		{"2001:db8::/48", "2001:db8:ff::/48"},
	}, nets)
	require.Equal(t, map[[2]string]int64{
		{"10.1.0.0/16", "192.0.0.0/16"}:       3,
		{"2001:db8::/48", "2001:db8:ff::/48"}: 1,
	}, packets)

	// /24 by default.
	n = newPlugin(t, func(n *NFLOG) { n.Metrics = "counters"; n.ExtraTags = []string{"src_net"} })
	acc = replay(t, n, data)
	require.NoError(t, n.Gather(acc))
	got := map[string]int64{}
	for _, m := range acc.GetTelegrafMetrics() {
		if m.Name() == measurementCounters {
			s, _ := m.GetTag("src_net")
			v, _ := m.GetField("packets_total")
			got[s] = v.(int64)
		}
	}
	require.Equal(t, map[string]int64{"10.1.2.0/24": 2, "10.1.3.0/24": 1, "2001:db8:0:1::/64": 1}, got)
}

func TestNetMasks(t *testing.T) {
	m := netMasks{24, 64}
	for in, want := range map[string]string{
		"10.1.2.3":          "10.1.2.0/24",
		"255.255.255.255":   "255.255.255.0/24",
		"2001:db8:1:2:3::4": "2001:db8:1:2::/64",
		"::1":               "::/64",
	} {
		require.Equal(t, want, m.name(m.mask(netip.MustParseAddr(in))), in)
	}
	m = netMasks{0, 128}
	require.Equal(t, "0.0.0.0/0", m.name(m.mask(netip.MustParseAddr("10.1.2.3"))))
	require.Equal(t, "2001:db8::1/128", m.name(m.mask(netip.MustParseAddr("2001:db8::1"))))
}

// Making a packet's key and counting it allocates nothing, with tag parts
// and masked networks.
func TestRankingAddDoesNotAllocate(t *testing.T) {
	n := newPlugin(t, func(n *NFLOG) {
		n.PrefixPattern = `^(?P<action>[A-Z]+):(?P<zone>\w+)`
		withTop("counters,top",
			rankingConfig{Name: "src_net", Key: []string{"src_net"}, Size: intp(20)},
			rankingConfig{Name: "dport", Key: []string{"dport"}, Size: intp(20)},
			rankingConfig{Name: "tags", Key: []string{"action", "hook", "group", "ip_proto"}},
		)(n)
	})
	require.NoError(t, n.Init())
	src := newPacketSource(t, "DROP:wan", 60)
	rng := rand.New(rand.NewPCG(5, 6))
	for range 10000 { // fill the summaries and the builder's caches
		n.build.add(nopAccumulator{}, src.set(rng.Uint32(), uint16(rng.IntN(65536))))
	}
	allocs := testing.AllocsPerRun(10000, func() {
		n.build.add(nopAccumulator{}, src.set(rng.Uint32(), uint16(rng.IntN(65536))))
	})
	require.Zero(t, allocs)
}

// BenchmarkAddRankings is the cost of two rankings (source /24 and
// destination port, K = 20) on top of counters mode, per packet: with
// every packet of one source and port (the flood benchmark's traffic: each
// packet a hit in both summaries), and with random sources and ports (each
// packet a new key in both, their worst case).
func BenchmarkAddRankings(b *testing.B) {
	rankingsOn := withTop("counters,top",
		rankingConfig{Name: "src_net", Key: []string{"src_net"}, Size: intp(20)},
		rankingConfig{Name: "dport", Key: []string{"dport"}, Size: intp(20)},
	)
	modes := []struct {
		name string
		mod  func(*NFLOG)
	}{
		{"counters", func(n *NFLOG) { n.Metrics = "counters" }},
		{"counters+top", rankingsOn},
	}
	for _, traffic := range []struct {
		name string
		addr func(*rand.Rand) uint32
		port func(*rand.Rand) uint16
	}{
		{"same_key", func(*rand.Rand) uint32 { return 0x0a000001 }, func(*rand.Rand) uint16 { return 9 }},
		{"new_keys", func(r *rand.Rand) uint32 { return r.Uint32() }, func(r *rand.Rand) uint16 { return uint16(r.Uint32()) }},
	} {
		for _, mode := range modes {
			b.Run(traffic.name+"/"+mode.name, func(b *testing.B) {
				n := &NFLOG{Groups: []int{5}, MaxCounterSeries: 10, Log: testutil.Logger{}, IPv4Mask: 24, IPv6Mask: 64,
					PrefixPattern: `^(?P<action>[A-Z]+):(?P<zone>\w+)`}
				mode.mod(n)
				n.Statistics = selfstat.NewCollector(nil)
				defer n.Statistics.UnregisterAll()
				require.NoError(b, n.Init())
				src := newPacketSource(b, "DROP:wan", 128)
				rng := rand.New(rand.NewPCG(7, 8))
				// Drawn beforehand: the PRNG is not what is measured.
				const m = 1 << 16
				addrs, ports := make([]uint32, m), make([]uint16, m)
				for i := range m {
					addrs[i], ports[i] = traffic.addr(rng), traffic.port(rng)
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					n.build.add(nopAccumulator{}, src.set(addrs[i&(m-1)], ports[i&(m-1)]))
					i++
				}
			})
		}
	}
}

// Runs of one key are counted as one weighted addition; a run ends at
// another key and with the interval, and counts the bytes of each of its
// packets.
func TestRankingRunsOfOneKey(t *testing.T) {
	n := newPlugin(t, withTop("counters,top",
		rankingConfig{Name: "src", Key: []string{"src"}},
		rankingConfig{Name: "bytes", Key: []string{"src"}, By: "bytes"},
		rankingConfig{Name: "tagged", Key: []string{"src", "prefix"}},
	))
	require.NoError(t, n.Init())
	src := newPacketSource(t, "DROP:wan", 60)
	const a, b = 0x0a000001, 0x0a000002
	feed := func(addrs ...uint32) {
		for i, addr := range addrs {
			src.p.Payload[3] = byte(40 + i) // each packet a length of its own
			n.build.add(nopAccumulator{}, src.set(addr, 22))
		}
	}
	gather := func() map[string][2]int64 { // "ranking/src" -> packets, bytes
		var acc testutil.Accumulator
		require.NoError(t, n.Gather(&acc))
		got := map[string][2]int64{}
		for _, m := range acc.GetTelegrafMetrics() {
			if m.Name() != measurementTop {
				continue
			}
			r, _ := m.GetTag("ranking")
			s, _ := m.GetTag("src")
			p, _ := m.GetField("packets")
			by, _ := m.GetField("bytes")
			if p.(int64) > 0 {
				got[r+"/"+s] = [2]int64{p.(int64), by.(int64)}
			}
		}
		return got
	}
	feed(a, a, a, b, a, a)
	want := map[string][2]int64{
		"src/10.0.0.1": {5, 40 + 41 + 42 + 44 + 45}, "src/10.0.0.2": {1, 43},
		"bytes/10.0.0.1": {5, 40 + 41 + 42 + 44 + 45}, "bytes/10.0.0.2": {1, 43},
		"tagged/10.0.0.1": {5, 40 + 41 + 42 + 44 + 45}, "tagged/10.0.0.2": {1, 43},
	}
	require.Equal(t, want, gather())
	// The run of a that was open at the Gather is not counted again.
	feed(a, a)
	require.Equal(t, map[string][2]int64{
		"src/10.0.0.1": {2, 81}, "bytes/10.0.0.1": {2, 81}, "tagged/10.0.0.1": {2, 81},
	}, gather())
	require.Empty(t, gather())
}

// A key holds only its own parts: packets that differ in anything else
// (source port, the other address, the length) are one entry.
func TestRankingKeyHoldsOnlyItsParts(t *testing.T) {
	n := newPlugin(t, withTop("top",
		rankingConfig{Name: "dport", Key: []string{"dport"}},
		rankingConfig{Name: "sport", Key: []string{"sport"}},
		rankingConfig{Name: "src", Key: []string{"src"}},
		rankingConfig{Name: "dst_net", Key: []string{"dst_net"}},
		rankingConfig{Name: "proto", Key: []string{"ip_proto", "prefix"}},
	))
	require.NoError(t, n.Init())
	src := newPacketSource(t, "DROP:wan", 60)
	for i := range 12 {
		binary.BigEndian.PutUint16(src.p.Payload[src.portOff:], uint16(1000+i%3)) // sport
		copy(src.p.Payload[16:20], []byte{192, 0, 2, byte(i)})                    // dst
		src.p.Payload[3] = byte(40 + i)
		n.build.add(nopAccumulator{}, src.set(0x0a000001, 22))
	}
	var acc testutil.Accumulator
	require.NoError(t, n.Gather(&acc))
	entries := map[string][]string{}
	for _, m := range acc.GetTelegrafMetrics() {
		r, _ := m.GetTag("ranking")
		if rank, _ := m.GetField("rank"); rank.(int64) > 0 {
			tags := m.Tags()
			delete(tags, "ranking")
			entries[r] = append(entries[r], strings.Join(slices.Sorted(maps.Values(tags)), ","))
		}
	}
	for _, e := range entries {
		slices.Sort(e) // equal counts come in any order
	}
	require.Equal(t, map[string][]string{
		"dport":   {"22"},
		"sport":   {"1000", "1001", "1002"},
		"src":     {"10.0.0.1"},
		"dst_net": {"192.0.2.0/24"},
		"proto":   {"DROP:wan,udp"},
	}, entries)
}

// The configuration of the README's "Top talkers", which the dashboards
// assume, is valid.
func TestReadmeRankingConfig(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	_, after, ok := strings.Cut(string(readme), "### Top talkers")
	require.True(t, ok)
	_, block, ok := strings.Cut(after, "```toml\n")
	require.True(t, ok)
	block, _, ok = strings.Cut(block, "```")
	require.True(t, ok)
	c := config.NewConfig()
	require.NoError(t, c.LoadConfigData([]byte(block), config.EmptySourcePath))
	n := c.Inputs[0].Input.(*NFLOG)
	t.Cleanup(n.Statistics.UnregisterAll)
	require.NoError(t, n.Init())
	var names []string
	for _, r := range n.build.rankings.list {
		names = append(names, r.name)
		require.Equal(t, 10, r.size)
		require.False(t, r.byBytes)
	}
	require.Equal(t, []string{"src", "src_net", "dport"}, names)
	require.Equal(t, "packets,counters,top", n.Metrics)
}

// Rankings by tags carry the packets' tag values, cleaned as the packet
// metrics' are: hostile prefixes and interface names cannot inject lines
// or tags into nflog_top either.
func TestRankingHostileTagsRoundTrip(t *testing.T) {
	codecs := newOutputCodecs(t)
	for _, s := range [][2]string{
		{"x\nnflog_top,ranking=forged packets=1i 0", "lo"},
		{`a,b=c "d"`, "v=,x"},
		{"in\xffvalid\x1b[31m", "v\xff"},
		{`x\`, `v\`},
		{"   ", "lo"},
	} {
		n := newPlugin(t, func(n *NFLOG) {
			n.PrefixPattern = `^(?P<action>[^:]*)`
			withTop("top", rankingConfig{Name: "tags", Key: []string{"prefix", "indev", "action"}})(n)
		})
		require.NoError(t, n.Init())
		p := hostilePacket(t, []byte(s[0]), s[1], s[1])
		n.build.add(nopAccumulator{}, &p)
		var acc testutil.Accumulator
		require.NoError(t, n.Gather(&acc))
		ms := acc.GetTelegrafMetrics()
		require.Len(t, ms, 2, "the entry and other")
		for _, m := range ms {
			codecs.requireRoundTrip(t, m)
		}
	}
}
