//go:build linux

package nflog

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"
	"github.com/influxdata/telegraf/testutil"

	"github.com/nflogr/telegraf-nflog/nflog"
)

// statsFields returns the fields of the nflog_stats metrics in acc, merged
// as InfluxDB merges them into one point (the counters and the gauge share
// measurement, tags and time), or nil when there is none.
func statsFields(acc *testutil.Accumulator) map[string]any {
	var fields map[string]any
	for _, m := range acc.GetTelegrafMetrics() {
		if m.Name() != measurementStats {
			continue
		}
		if fields == nil {
			fields = make(map[string]any)
		}
		for _, f := range m.FieldList() {
			fields[f.Key] = f.Value
		}
	}
	return fields
}

// nflog_stats is two metrics: the monotonic counts as a counter, the
// buffer's size as a gauge, with one measurement, tag set and time.
func TestStatsAreCountersAndAGauge(t *testing.T) {
	s := readerStats{
		received: 10, overruns: 1, lost: 2, decodeErrors: 3, growths: 4, counterOverflows: 5, notEmitted: 6, truncated: 7, skipped: 9, nameWatchFailures: 1,
		readBufferBytes: 8 << 20, hasReadBuffer: true,
	}
	var acc testutil.Accumulator
	tags := map[string]string{"group": "5"}
	now := time.Unix(1700000000, 0)
	s.emit(&acc, tags, now)
	want := []telegraf.Metric{
		metric.New("nflog_stats", tags, map[string]any{
			"packets_received_total":           int64(10),
			"overruns_total":                   int64(1),
			"packets_lost_total":               int64(2),
			"decode_errors_total":              int64(3),
			"buffer_growths_total":             int64(4),
			"counter_overflows_total":          int64(5),
			"packet_metrics_not_emitted_total": int64(6),
			"packets_truncated_total":          int64(7),
			"packets_skipped_total":            int64(9),
			"name_watch_failures_total":        int64(1),
		}, now, telegraf.Counter),
		metric.New("nflog_stats", tags, map[string]any{"read_buffer_bytes": int64(8 << 20)}, now, telegraf.Gauge),
	}
	testutil.RequireMetricsEqual(t, want, acc.GetTelegrafMetrics())

	// A replay has no receive buffer: no gauge.
	acc.ClearMetrics()
	s.hasReadBuffer = false
	s.emit(&acc, nil, now)
	require.Len(t, acc.GetTelegrafMetrics(), 1)
	require.Equal(t, telegraf.Counter, acc.GetTelegrafMetrics()[0].Type())
}

// A replay's nflog_stats carry the group tag that the live ones would:
// the groups the capture's packets were logged to, sorted, as far as the
// file was read; before the first packet there is none. read_buffer_bytes
// is left out (a file has no socket).
func TestReplayStatsGroupTag(t *testing.T) {
	packet := func(group uint16) message {
		return msg(nflog.FamilyIPv4, group, recorded, hdrAttr(0x0800, nflog.HookInput), prefixAttr("x"),
			payloadAttr(ipv4("10.0.0.1", "10.0.0.2", 17, 28, udp(1, 2, 0))))
	}
	n := newPlugin(t, func(n *NFLOG) { n.Groups = nil })
	acc := replay(t, n, capture(t, packet(7), packet(5), packet(7), packet(5)))
	require.NoError(t, n.Gather(acc))
	var stats []telegraf.Metric
	for _, m := range acc.GetTelegrafMetrics() {
		if m.Name() == measurementStats {
			stats = append(stats, m)
		}
	}
	require.Len(t, stats, 1, "no read_buffer_bytes gauge on replay")
	require.Equal(t, map[string]string{"group": "5,7"}, stats[0].Tags())
	v, _ := stats[0].GetField("packets_received_total")
	require.Equal(t, int64(4), v)

	empty := newPlugin(t, func(n *NFLOG) { n.Groups = nil })
	acc = replay(t, empty, capture(t))
	require.NoError(t, empty.Gather(acc))
	require.Empty(t, acc.GetTelegrafMetrics()[0].Tags(), "an empty file has no group")
}

func TestReplayGroups(t *testing.T) {
	g := newReplayGroups()
	require.Nil(t, g.tags())
	for _, group := range []uint16{9, 9, 0, 65535, 9, 0} {
		g.add(group)
	}
	require.Equal(t, map[string]string{"group": "0,9,65535"}, g.tags())
}
