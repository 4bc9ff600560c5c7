//go:build linux

package nflog

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/metric"
	"github.com/influxdata/telegraf/plugins/inputs"
	influxserializer "github.com/influxdata/telegraf/plugins/serializers/influx"
	"github.com/influxdata/telegraf/selfstat"
	"github.com/influxdata/telegraf/testutil"

	"github.com/nflogr/telegraf-nflog/nflog"
)

// newPlugin returns the plugin with its defaults, as Telegraf creates it,
// changed by mod.
func newPlugin(t *testing.T, mod func(*NFLOG)) *NFLOG {
	t.Helper()
	n, ok := inputs.Inputs["nflog"]().(*NFLOG)
	require.True(t, ok)
	n.Log = testutil.Logger{}
	n.Statistics = selfstat.NewCollector(nil)
	t.Cleanup(n.Statistics.UnregisterAll)
	n.Groups = []int{5}
	if mod != nil {
		mod(n)
	}
	return n
}

// replay runs the plugin over a capture until its end and returns what it
// produced, without calling Gather.
func replay(t *testing.T, n *NFLOG, data []byte) *testutil.Accumulator {
	t.Helper()
	var acc testutil.Accumulator
	replayInto(t, n, data, &acc)
	return &acc
}

// replayInto is replay into the given accumulator.
func replayInto(t *testing.T, n *NFLOG, data []byte, acc telegraf.Accumulator) {
	t.Helper()
	fromCapture(n, data)
	require.NoError(t, n.Init())
	require.NoError(t, n.Start(acc))
	t.Cleanup(n.Stop)
	select {
	case <-n.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the capture was not read to its end within 10s")
	}
	require.NoError(t, n.Err())
}

func TestSampleConfig(t *testing.T) {
	// Telegraf's own loader, with every commented default uncommented:
	// the sample must parse, and its values must be the code's defaults.
	c := config.NewConfig()
	require.NoError(t, c.LoadConfigData(testutil.DefaultSampleConfig(sampleConfig), config.EmptySourcePath))
	require.Len(t, c.Inputs, 1)
	got, ok := c.Inputs[0].Input.(*NFLOG)
	require.True(t, ok)
	require.NotNil(t, got.Log)
	require.NotNil(t, got.Statistics)
	t.Cleanup(got.Statistics.UnregisterAll)

	want, ok := inputs.Inputs["nflog"]().(*NFLOG)
	require.True(t, ok)
	want.Groups = []int{5}
	want.ExtraTags, want.ExtraFields = []string{}, []string{}
	require.Equal(t, *options(want), *options(got))
	require.NoError(t, got.Init())
}

// options returns a copy of the plugin's config fields only.
func options(n *NFLOG) *NFLOG {
	return &NFLOG{
		Groups: n.Groups, CopyMode: n.CopyMode, CopyRange: n.CopyRange, FlushTimeout: n.FlushTimeout,
		QueueThreshold: n.QueueThreshold, ReadBufferSize: n.ReadBufferSize, MaxReadBufferSize: n.MaxReadBufferSize,
		NetlinkBufferSize: n.NetlinkBufferSize, OnOverrun: n.OnOverrun, Sequence: n.Sequence, ReadMode: n.ReadMode, Netns: n.Netns,
		Metrics: n.Metrics, MaxCounterSeries: n.MaxCounterSeries, ExtraTags: n.ExtraTags,
		ExtraFields: n.ExtraFields, PrefixPattern: n.PrefixPattern, IPv4Mask: n.IPv4Mask, IPv6Mask: n.IPv6Mask,
		Top: n.Top, PacketMetricsPerSecond: n.PacketMetricsPerSecond,
	}
}

func TestSampleConfigDocumentsEveryOption(t *testing.T) {
	for _, key := range []string{
		"groups", "copy_mode", "copy_range", "flush_timeout", "queue_threshold", "read_buffer_size",
		"max_read_buffer_size", "netlink_buffer_size", "on_overrun", "sequence", "read_mode", "netns", "metrics",
		"max_counter_series", "extra_tags", "extra_fields", "prefix_pattern", "ipv4_mask", "ipv6_mask",
		"packet_metrics_per_second",
	} {
		if key == "groups" { // required
			require.Contains(t, sampleConfig, "\n  groups = ")
			continue
		}
		require.Contains(t, sampleConfig, "\n  # "+key+" = ", "option %q has no commented default", key)
	}
}

func TestLoaderRejectsUnknownKey(t *testing.T) {
	c := config.NewConfig()
	err := c.LoadConfigData([]byte("[[inputs.nflog]]\n  groups = [5]\n  copy_mod = \"meta\"\n"), config.EmptySourcePath)
	require.ErrorContains(t, err, "copy_mod")
}

func TestLoaderAcceptsSizesAndDurations(t *testing.T) {
	c := config.NewConfig()
	require.NoError(t, c.LoadConfigData([]byte(`
[[inputs.nflog]]
  groups = [1, 2]
  copy_range = "1KiB"
  read_buffer_size = 1048576
  netlink_buffer_size = "4KiB"
  flush_timeout = "1s"
  netns = "blue"
`), config.EmptySourcePath))
	n := c.Inputs[0].Input.(*NFLOG)
	t.Cleanup(n.Statistics.UnregisterAll)
	require.NoError(t, n.Init())
	require.Equal(t, uint32(1024), n.cfg.CopyRange)
	require.Equal(t, 1<<20, n.cfg.ReadBufferSize)
	require.Equal(t, uint32(4096), n.cfg.NetlinkBufferSize)
	require.Equal(t, time.Second, n.cfg.FlushTimeout)
	require.Equal(t, "/run/netns/blue", n.netnsPath)
}

// A size that does not parse is named with what is allowed, in one
// message without the units package's double space, through Telegraf's
// loader as through any TOML decoder.
func TestLoaderSizeError(t *testing.T) {
	for _, value := range []string{`"8 MiBs"`, `"lots"`, `"-"`} {
		c := config.NewConfig()
		err := c.LoadConfigData([]byte("[[inputs.nflog]]\n  groups = [5]\n  read_buffer_size = "+value+"\n"), config.EmptySourcePath)
		require.Error(t, err, value)
		require.NotContains(t, err.Error(), "  ", "double space in %q", err)
		require.ErrorContains(t, err, "invalid size "+value)
		require.ErrorContains(t, err, `"8MiB"`)
	}
	var s Size
	require.NoError(t, s.UnmarshalText([]byte("64KiB")))
	require.Equal(t, Size(65536), s)
	require.NoError(t, s.UnmarshalText([]byte("1KB")))
	require.Equal(t, Size(1000), s)
}

func TestInitDefaults(t *testing.T) {
	n := newPlugin(t, nil)
	require.NoError(t, n.Init())
	require.Equal(t, nflog.Config{
		FlushTimeout:      100 * time.Millisecond,
		QueueThreshold:    64,
		ReadBufferSize:    8 << 20,
		MaxReadBufferSize: 64 << 20,
		NetlinkBufferSize: 64 << 10,
		CopyMode:          nflog.CopyPacket,
		CopyRange:         128,
		Flags:             nflog.FlagSequence,
		OnOverrun:         nflog.OverrunCount,
	}, n.cfg)
	require.NotNil(t, n.build.packets)
	require.Nil(t, n.build.counters)
}

func TestInitErrors(t *testing.T) {
	tests := []struct {
		name   string
		mod    func(*NFLOG)
		option string // the error must name it
	}{
		{"no groups", func(n *NFLOG) { n.Groups = nil }, `"groups"`},
		{"negative group", func(n *NFLOG) { n.Groups = []int{-1} }, `"groups"`},
		{"group too large", func(n *NFLOG) { n.Groups = []int{65536} }, `"groups"`},
		{"group twice", func(n *NFLOG) { n.Groups = []int{5, 5} }, `"groups"`},
		{"copy_mode", func(n *NFLOG) { n.CopyMode = "all" }, "copy_mode"},
		{"copy_range negative", func(n *NFLOG) { n.CopyRange = -1 }, "copy_range"},
		{"copy_range too large", func(n *NFLOG) { n.CopyRange = 65532 }, "copy_range"},
		{"flush_timeout negative", func(n *NFLOG) { n.FlushTimeout = config.Duration(-time.Second) }, "flush_timeout"},
		{"flush_timeout too large", func(n *NFLOG) { n.FlushTimeout = config.Duration(nflog.MaxFlushTimeout + time.Second) }, "flush_timeout"},
		{"queue_threshold negative", func(n *NFLOG) { n.QueueThreshold = -1 }, "queue_threshold"},
		{"queue_threshold too large", func(n *NFLOG) { n.QueueThreshold = 1 << 32 }, "queue_threshold"},
		{"read_buffer_size negative", func(n *NFLOG) { n.ReadBufferSize = -1 }, "read_buffer_size"},
		{"read_buffer_size too large", func(n *NFLOG) { n.ReadBufferSize = 1 << 30; n.MaxReadBufferSize = 0 }, "read_buffer_size"},
		{"max_read_buffer_size too large", func(n *NFLOG) { n.MaxReadBufferSize = 1 << 30 }, "max_read_buffer_size"},
		{"max_read_buffer_size below read_buffer_size", func(n *NFLOG) { n.MaxReadBufferSize = 1 << 20 }, "max_read_buffer_size"},
		{"netlink_buffer_size too small", func(n *NFLOG) { n.NetlinkBufferSize = 4095 }, "netlink_buffer_size"},
		{"netlink_buffer_size too large", func(n *NFLOG) { n.NetlinkBufferSize = 131073 }, "netlink_buffer_size"},
		{"on_overrun", func(n *NFLOG) { n.OnOverrun = "drop" }, "on_overrun"},
		{"sequence", func(n *NFLOG) { n.Sequence = "yes" }, "sequence"},
		{"read_mode", func(n *NFLOG) { n.ReadMode = "busy" }, `invalid read_mode "busy": use "netpoll" or "blocking"`},
		{"netns relative", func(n *NFLOG) { n.Netns = "run/netns/x" }, "netns"},
		{"metrics", func(n *NFLOG) { n.Metrics = "all" }, "metrics"},
		{"max_counter_series", func(n *NFLOG) { n.Metrics = "counters"; n.MaxCounterSeries = 0 }, "max_counter_series"},
		{"extra_tags", func(n *NFLOG) { n.ExtraTags = []string{"src"} }, "extra_tags"},
		{"extra_fields", func(n *NFLOG) { n.ExtraFields = []string{"group"} }, "extra_fields"},
		{"seq without sequence", func(n *NFLOG) { n.ExtraFields = []string{"seq"}; n.Sequence = "none" }, "sequence"},
		{"seq_global without global", func(n *NFLOG) { n.ExtraFields = []string{"seq_global"} }, "sequence"},
		{"prefix_pattern invalid", func(n *NFLOG) { n.PrefixPattern = "(?P<a>" }, "prefix_pattern"},
		{"prefix_pattern unnamed", func(n *NFLOG) { n.PrefixPattern = "^([A-Z]+)" }, "prefix_pattern"},
		{"prefix_pattern reserved", func(n *NFLOG) { n.PrefixPattern = "^(?P<proto>[a-z]+)" }, "prefix_pattern"},
		{"meta with src", func(n *NFLOG) { n.CopyMode = "meta"; n.ExtraFields = []string{"src"} }, `extra_fields "src"`},
		{"meta with ttl", func(n *NFLOG) { n.CopyMode = "meta"; n.ExtraFields = []string{"ttl"} }, `extra_fields "ttl"`},
		{"meta with ip_proto", func(n *NFLOG) { n.CopyMode = "meta"; n.ExtraTags = []string{"ip_proto"} }, `extra_tags "ip_proto"`},
		{"meta with ranking by src_net", func(n *NFLOG) {
			n.CopyMode = "meta"
			withTop("top", rankingConfig{Name: "nets", Key: []string{"prefix", "src_net"}})(n)
		}, `key "src_net" of ranking "nets"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newPlugin(t, tt.mod)
			require.ErrorContains(t, n.Init(), tt.option)
		})
	}
}

func TestInitAcceptsLimits(t *testing.T) {
	n := newPlugin(t, func(n *NFLOG) {
		n.Groups = []int{0, 65535}
		n.CopyRange = 0
		n.NetlinkBufferSize = 0
		n.ReadBufferSize, n.MaxReadBufferSize = 0, 0
		n.Sequence = "global"
		n.ExtraFields = []string{"seq", "seq_global"}
		n.Netns = "/proc/1/ns/net"
		n.Metrics = "both"
		n.ReadMode = "blocking"
	})
	require.NoError(t, n.Init())
	require.Equal(t, nflog.FlagSequence|nflog.FlagGlobalSequence, n.cfg.Flags)
	require.Equal(t, nflog.ReadBlocking, n.cfg.ReadMode)
}

// copy_mode = "meta" with options read from the packet's contents is an
// error saying why they can never appear and what to change; the options
// that the metadata carries stay allowed.
func TestInitMetaModeContradiction(t *testing.T) {
	n := newPlugin(t, func(n *NFLOG) {
		n.CopyMode = "meta"
		n.ExtraTags = []string{"hook", "src_net"}
		n.ExtraFields = []string{"captured_len", "src", "ttl"}
	})
	require.EqualError(t, n.Init(), `copy_mode = "meta" sends no packet contents, so extra_tags "src_net", extra_fields "src", extra_fields "ttl" can never have a value: `+
		`use copy_mode = "packet" (copy_range = 128 covers the IP and transport headers), or remove them`)

	ok := newPlugin(t, func(n *NFLOG) {
		n.CopyMode = "meta"
		n.ExtraTags = []string{"family", "group", "hook", "physindev", "physoutdev", "gid"}
		n.ExtraFields = []string{"seq", "captured_len"}
		withTop("counters,top", rankingConfig{Name: "rules", Key: []string{"prefix", "indev"}})(n)
	})
	require.NoError(t, ok.Init())
	// The same options are fine when the packet is copied.
	packet := newPlugin(t, func(n *NFLOG) { n.ExtraFields = []string{"src", "ttl"}; n.ExtraTags = []string{"src_net"} })
	require.NoError(t, packet.Init())
}

func TestInitWarnsAboutSmallCopyRange(t *testing.T) {
	log := &testutil.CaptureLogger{}
	n := newPlugin(t, func(n *NFLOG) { n.CopyRange = 20; n.Log = log })
	require.NoError(t, n.Init())
	require.Len(t, log.Warnings(), 1)
	require.Contains(t, log.Warnings()[0], "copy_range")
}

var (
	t0 = time.Date(2025, 11, 26, 12, 0, 0, 123456000, time.UTC)
	// recorded is the capture record's time, used for packets that carry
	// no kernel timestamp.
	recorded = time.Date(2025, 11, 26, 12, 0, 1, 987654321, time.UTC)
)

func TestUniqueTimesBounded(t *testing.T) {
	u := uniqueTimes{last: make(map[string]*int64), limit: 4}
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for i, key := range []string{"a", "b", "c", "d"} {
		u.next([]byte(key), at(time.Duration(i)*time.Microsecond))
	}
	require.Len(t, u.last, 4)
	// A fifth series two seconds later: the four old ones cannot be bumped
	// any more and are forgotten.
	u.next([]byte("e"), at(2*time.Second))
	require.Len(t, u.last, 1)
	// Five series within maxReorder: the map is cleared rather than grown.
	for _, key := range []string{"f", "g", "h"} {
		u.next([]byte(key), at(2*time.Second))
	}
	require.Len(t, u.last, 4)
	u.next([]byte("i"), at(2*time.Second))
	require.Len(t, u.last, 1)
	// Bumping still works afterwards.
	require.Equal(t, at(2*time.Second).UnixNano()+1, u.next([]byte("i"), at(2*time.Second)).UnixNano())
}

// TestCountersKeepRunning: each Gather reports the counters since Start,
// not since the last Gather. Their values are asserted by
// testcases/counters.
func TestCountersKeepRunning(t *testing.T) {
	p := payloadAttr(ipv4("192.0.2.1", "192.0.2.2", 17, 28, udp(1, 2, 0)))
	n := newPlugin(t, func(n *NFLOG) { n.Metrics = "counters" })
	acc := replay(t, n, capture(t,
		msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, 3), p, prefixAttr("a")),
		msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, 3), p, prefixAttr("a")),
		msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, 3), p, prefixAttr("b")),
	))
	require.Empty(t, acc.Metrics, "no metric per packet in counters mode")
	require.NoError(t, n.Gather(acc))
	first := acc.GetTelegrafMetrics()
	require.Len(t, first, 3, "two counters and nflog_stats")
	for _, m := range first {
		// Line protocol, and so testcases/, cannot say a metric's type.
		// nflog_stats on replay is its counters only: a file has no
		// receive buffer, so no gauge.
		require.Equal(t, telegraf.Counter, m.Type(), "type of %s", m.Name())
	}

	acc.ClearMetrics()
	require.NoError(t, n.Gather(acc))
	testutil.RequireMetricsEqual(t, first, acc.GetTelegrafMetrics(), testutil.SortMetrics(), testutil.IgnoreTime())
}

func TestCountersBothModes(t *testing.T) {
	p := payloadAttr(ipv4("192.0.2.1", "192.0.2.2", 17, 28, udp(1, 2, 0)))
	n := newPlugin(t, func(n *NFLOG) { n.Metrics = "both" })
	acc := replay(t, n, capture(t,
		msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, 3), p),
		msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, 3), p),
	))
	require.Len(t, acc.Metrics, 2)
	require.NoError(t, n.Gather(acc))
	m, ok := acc.Get("nflog_counters")
	require.True(t, ok)
	require.Equal(t, telegraf.Counter, m.Type)
	require.Equal(t, int64(2), m.Fields["packets_total"])
	require.Equal(t, int64(56), m.Fields["bytes_total"])
}

func TestCountersBound(t *testing.T) {
	p := payloadAttr(ipv4("192.0.2.1", "192.0.2.2", 17, 28, udp(1, 2, 0)))
	n := newPlugin(t, func(n *NFLOG) { n.Metrics = "counters"; n.MaxCounterSeries = 2 })
	acc := replay(t, n, capture(t,
		msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, 3), p, prefixAttr("a")),
		msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, 3), p, prefixAttr("b")),
		msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, 3), p, prefixAttr("c")),
		msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, 3), p, prefixAttr("c")),
		msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, 3), p, prefixAttr("a")),
	))
	require.NoError(t, n.Gather(acc))
	var series int
	for _, m := range acc.Metrics {
		if m.Measurement == "nflog_counters" {
			series++
		}
	}
	require.Equal(t, 2, series)
	require.Equal(t, int64(2), statsFields(acc)["counter_overflows_total"])
	require.Equal(t, int64(2), n.stats.counterOverflows.Get())
}

func TestStatsAndSelfstat(t *testing.T) {
	p := payloadAttr(ipv4("192.0.2.1", "192.0.2.2", 17, 28, udp(1, 2, 0)))
	n := newPlugin(t, nil)
	acc := replay(t, n, capture(t,
		msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, 3), p),
		truncated(),
		msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, 3), p),
	))
	require.Len(t, acc.Metrics, 2)
	require.Len(t, acc.Errors, 1)
	var de *nflog.DecodeError
	require.ErrorAs(t, acc.Errors[0], &de)

	acc.ClearMetrics()
	require.NoError(t, n.Gather(acc))
	stats := statsFields(acc)
	require.Equal(t, int64(2), stats["packets_received_total"])
	require.Equal(t, int64(1), stats["decode_errors_total"])
	require.Equal(t, int64(2), n.stats.received.Get())
	require.Equal(t, int64(1), n.stats.decodeErrors.Get())

	// The statistics are registered through the injected collector, under
	// the measurement "nflog" (internal_nflog in inputs.internal).
	var names []string
	for _, m := range selfstat.Metrics() {
		if m.Name() == "internal_nflog" {
			for _, f := range m.FieldList() {
				names = append(names, f.Key)
			}
		}
	}
	require.Subset(t, names, []string{"packets_received", "overruns", "packets_lost", "decode_errors", "buffer_growths", "counter_overflows", "packet_metrics_not_emitted", "packets_truncated", "packets_skipped", "name_watch_failures"})
}

// truncated is a message whose only attribute claims 100 bytes but has none.
func truncated() message {
	m := msg(nflog.FamilyIPv4, 5, recorded)
	m.raw = append(m.raw, 100, 0, 1, 0)
	return m
}

func TestErrorsAreRateLimited(t *testing.T) {
	var acc testutil.Accumulator
	l := errorLimiter{every: time.Hour}
	for range 5 {
		l.add(&acc, errors.New("bad"))
	}
	require.Len(t, acc.Errors, 1)
	l.flush(&acc) // too early
	require.Len(t, acc.Errors, 1)

	l.last = time.Now().Add(-2 * time.Hour)
	l.flush(&acc)
	require.Len(t, acc.Errors, 2)
	require.ErrorContains(t, acc.Errors[1], "4 more errors")

	l.last = time.Now().Add(-2 * time.Hour)
	l.add(&acc, errors.New("bad"))
	l.add(&acc, errors.New("bad"))
	l.last = time.Now().Add(-2 * time.Hour)
	l.add(&acc, errors.New("worse"))
	require.Len(t, acc.Errors, 4)
	require.ErrorContains(t, acc.Errors[3], "worse (1 similar errors suppressed")
}

func TestStopWithoutStart(t *testing.T) {
	n := newPlugin(t, nil)
	require.NoError(t, n.Init())
	n.Stop()
	var acc testutil.Accumulator
	require.NoError(t, n.Gather(&acc))
	require.Empty(t, acc.Metrics)
}

func TestStartFailsWithoutNamespace(t *testing.T) {
	n := newPlugin(t, func(n *NFLOG) { n.Netns = "/run/netns/does-not-exist-nflog" })
	require.NoError(t, n.Init())
	var acc testutil.Accumulator
	err := n.Start(&acc)
	require.ErrorContains(t, err, "netns")
	require.ErrorIs(t, err, os.ErrNotExist)
	n.Stop()
}

// nopAccumulator builds each metric as Telegraf's agent does and drops
// it, to measure the plugin and the metric it costs.
type nopAccumulator struct{ telegraf.Accumulator }

func (nopAccumulator) AddFields(name string, fields map[string]any, tags map[string]string, t ...time.Time) {
	metric.New(name, tags, fields, t[0])
}

func (nopAccumulator) AddMetric(telegraf.Metric) {}

func BenchmarkAdd(b *testing.B) {
	t := &testing.T{}
	data := capture(t, msg(nflog.FamilyIPv4, 5, recorded,
		hdrAttr(0x0800, nflog.HookInput), tsAttr(t0), u32Attr(nflog.AttrInDev, 1),
		payloadAttr(ipv4("192.0.2.1", "198.51.100.2", 17, 128, udp(40000, 53, 100))),
		prefixAttr("DROP:wan"), u32Attr(nflog.AttrUID, 1000)))
	for _, mode := range []string{"packets", "counters"} {
		b.Run(mode, func(b *testing.B) {
			n := &NFLOG{Groups: []int{5}, Metrics: mode, MaxCounterSeries: 10, Log: testutil.Logger{},
				PrefixPattern: `^(?P<action>[A-Z]+):(?P<zone>\w+)`}
			n.Statistics = selfstat.NewCollector(nil)
			defer n.Statistics.UnregisterAll()
			require.NoError(b, n.Init())
			r, err := nflog.NewFileReader(bytes.NewReader(data), nil)
			require.NoError(b, err)
			p, err := r.Next(context.Background())
			require.NoError(b, err)
			b.ReportAllocs()
			for b.Loop() {
				n.build.add(nopAccumulator{}, &p)
			}
		})
	}
}

// metricAccumulator keeps the metrics added with AddMetric as they are,
// with their field order.
type metricAccumulator struct {
	testutil.Accumulator
	mu      sync.Mutex
	metrics []telegraf.Metric
}

func (a *metricAccumulator) AddMetric(m telegraf.Metric) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.metrics = append(a.metrics, m)
}

// Packet metrics are made from a template per tag set and field set: each
// must carry its own packet's values, whatever came before it, and the
// fields come in one fixed order (line protocol output is stable).
func TestPacketMetricsFromTemplates(t *testing.T) {
	udpPacket := func(ts time.Time, length int, sport uint16, uid uint32) message {
		return msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, nflog.HookInput), tsAttr(ts),
			u32Attr(nflog.AttrInDev, 1), u32Attr(nflog.AttrUID, uid),
			payloadAttr(ipv4("192.0.2.1", "198.51.100.2", 17, 20+8+length, udp(sport, 53, length))))
	}
	icmpPacket := func(ts time.Time, typ uint8) message {
		return msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, nflog.HookInput), tsAttr(ts),
			u32Attr(nflog.AttrInDev, 1), u32Attr(nflog.AttrUID, 7),
			payloadAttr(ipv4("192.0.2.9", "198.51.100.2", 1, 20+8, icmp(typ, 0))))
	}
	data := capture(t,
		udpPacket(t0, 10, 1001, 7),
		udpPacket(t0.Add(time.Microsecond), 11, 1002, 7),   // same series, same fields
		icmpPacket(t0.Add(2*time.Microsecond), 8),          // same series, other fields
		udpPacket(t0.Add(3*time.Microsecond), 12, 1003, 8), // another series
		udpPacket(t0.Add(4*time.Microsecond), 13, 1004, 7), // back to the first
	)
	n := newPlugin(t, func(n *NFLOG) {
		n.ExtraFields = []string{"src", "sport", "icmp_type", "ttl"}
		n.ExtraTags = []string{"ip_proto"}
	})
	acc := &metricAccumulator{}
	replayInto(t, n, data, acc)

	type field struct {
		key   string
		value any
	}
	want := [][]field{
		{{"len", int64(38)}, {"mark", int64(0)}, {"timestamp_us", t0.UnixMicro()}, {"src", "192.0.2.1"}, {"sport", int64(1001)}, {"ttl", int64(64)}},
		{{"len", int64(39)}, {"mark", int64(0)}, {"timestamp_us", t0.UnixMicro() + 1}, {"src", "192.0.2.1"}, {"sport", int64(1002)}, {"ttl", int64(64)}},
		{{"len", int64(28)}, {"mark", int64(0)}, {"timestamp_us", t0.UnixMicro() + 2}, {"src", "192.0.2.9"}, {"icmp_type", int64(8)}, {"ttl", int64(64)}},
		{{"len", int64(40)}, {"mark", int64(0)}, {"timestamp_us", t0.UnixMicro() + 3}, {"src", "192.0.2.1"}, {"sport", int64(1003)}, {"ttl", int64(64)}},
		{{"len", int64(41)}, {"mark", int64(0)}, {"timestamp_us", t0.UnixMicro() + 4}, {"src", "192.0.2.1"}, {"sport", int64(1004)}, {"ttl", int64(64)}},
	}
	wantUID := []string{"7", "7", "7", "8", "7"}
	wantProto := []string{"udp", "udp", "icmp", "udp", "udp"}
	acc.mu.Lock()
	defer acc.mu.Unlock()
	require.Len(t, acc.metrics, len(want))
	for i, m := range acc.metrics {
		var got []field
		for _, f := range m.FieldList() {
			got = append(got, field{f.Key, f.Value})
		}
		require.Equal(t, want[i], got, "metric %d", i)
		require.Equal(t, map[string]string{"indev": "lo", "proto": "ipv4", "uid": wantUID[i], "ip_proto": wantProto[i]}, m.Tags(), "metric %d", i)
		require.Equal(t, t0.Add(time.Duration(i)*time.Microsecond).UnixNano(), m.Time().UnixNano(), "metric %d", i)
	}
}

// borrowingAccumulator serializes each packet metric when it is added and
// keeps only the line, as the telegraf-nflog binary does, so the plugin
// lends it its metrics.
type borrowingAccumulator struct {
	testutil.Accumulator
	t     *testing.T
	ser   *influxserializer.Serializer
	lines []string
}

func (*borrowingAccumulator) BorrowsMetrics() bool { return true }

func (a *borrowingAccumulator) AddMetric(m telegraf.Metric) {
	b, err := a.ser.Serialize(m)
	require.NoError(a.t, err)
	a.lines = append(a.lines, string(b))
}

// A borrowing accumulator gets the same metrics, line for line, as one that
// keeps them, over packets of many shapes: the lent template carries each
// packet's own values, and the copies handed to keepers are not the template.
func TestBorrowedMetricsMatchKeptOnes(t *testing.T) {
	var msgs []message
	for i := range 40 {
		ts := t0.Add(time.Duration(i) * time.Microsecond)
		attrs := []attr{hdrAttr(0x0800, nflog.HookInput), tsAttr(ts), u32Attr(nflog.AttrInDev, 1), u32Attr(nflog.AttrUID, uint32(i%3))}
		if i%4 == 0 {
			attrs = append(attrs, prefixAttr("DROP:wan"))
		}
		switch i % 5 {
		case 0:
			attrs = append(attrs, payloadAttr(ipv4("192.0.2.9", "198.51.100.2", 1, 20+8, icmp(uint8(i), 0))))
		case 1: // no payload: no "len"
		default:
			attrs = append(attrs, payloadAttr(ipv4("192.0.2.1", "198.51.100.2", 17, 20+8+i, udp(uint16(1000+i), 53, i))))
		}
		msgs = append(msgs, msg(nflog.FamilyIPv4, 5, recorded, attrs...))
	}
	data := capture(t, msgs...)
	shipped, err := os.ReadFile("../../../nflog/testdata/lo-mixed.pcap")
	require.NoError(t, err)

	setup := func(n *NFLOG) {
		n.PrefixPattern = `^(?P<action>[A-Z]+):(?P<zone>\w+)`
		n.ExtraTags = []string{"ip_proto", "hook"}
		n.ExtraFields = []string{"src", "sport", "icmp_type", "captured_len"}
	}
	for name, capture := range map[string][]byte{"synthetic": data, "lo-mixed.pcap": shipped} {
		t.Run(name, func(t *testing.T) {
			ser := &influxserializer.Serializer{}
			require.NoError(t, ser.Init())

			keeper := &metricAccumulator{}
			replayInto(t, newPlugin(t, setup), capture, keeper)
			var want []string
			for _, m := range keeper.metrics {
				b, err := ser.Serialize(m)
				require.NoError(t, err)
				want = append(want, string(b))
			}

			borrower := &borrowingAccumulator{t: t, ser: ser}
			replayInto(t, newPlugin(t, setup), capture, borrower)
			require.NotEmpty(t, want)
			require.Equal(t, want, borrower.lines)
		})
	}
}

// Packets of series that alternate, repeat, and overflow the limit are each
// counted against their own series (the counter set remembers the last
// series it looked up).
func TestCounterSetRunsOfSeries(t *testing.T) {
	c := newCounterSet(2)
	tags := func(v string) []tagPair { return []tagPair{{"k", v}} }
	for _, k := range []string{"a", "a", "b", "a", "c", "c", "b", "b", "c", "a"} {
		c.add([]byte("k\x00"+k+"\x00"), tags(k), int64(len(k)))
	}
	require.Equal(t, int64(3), c.overflows()) // every "c": the limit is two series
	var acc testutil.Accumulator
	c.emit(&acc, t0)
	got := map[string]int64{}
	for _, m := range acc.Metrics {
		got[m.Tags["k"]] = m.Fields["packets_total"].(int64)
	}
	require.Equal(t, map[string]int64{"a": 4, "b": 3}, got)
}

// The README's configuration section is sample.conf, word for word, as in
// Telegraf's own plugin READMEs.
func TestReadmeShowsSampleConfig(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	require.Contains(t, string(readme), "```toml @sample.conf\n"+sampleConfig+"```", "README.md's configuration block differs from sample.conf: copy sample.conf into it")
}
