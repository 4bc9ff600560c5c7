//go:build linux

package nflog

import (
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/selfstat"
)

const measurementStats = "nflog_stats"

// pluginStats are the selfstat counters, mirrored from the reader's Stats,
// the counter set and the rate limit.
type pluginStats struct {
	received, overruns, lost, decodeErrors, growths, counterOverflows, notEmitted selfstat.Stat
	truncated, skipped, nameWatchFailures                                         selfstat.Stat
}

func newPluginStats(c *selfstat.Collector, tags map[string]string) pluginStats {
	return pluginStats{
		received:          c.Register("nflog", "packets_received", tags),
		overruns:          c.Register("nflog", "overruns", tags),
		lost:              c.Register("nflog", "packets_lost", tags),
		decodeErrors:      c.Register("nflog", "decode_errors", tags),
		growths:           c.Register("nflog", "buffer_growths", tags),
		counterOverflows:  c.Register("nflog", "counter_overflows", tags),
		notEmitted:        c.Register("nflog", "packet_metrics_not_emitted", tags),
		truncated:         c.Register("nflog", "packets_truncated", tags),
		skipped:           c.Register("nflog", "packets_skipped", tags),
		nameWatchFailures: c.Register("nflog", "name_watch_failures", tags),
	}
}

// readerStats are the plugin's statistics at one Gather: the reader's
// counters, the counter set's overflows and the rate limit's packet metrics
// not emitted.
type readerStats struct {
	received, overruns, lost, decodeErrors, growths int64
	counterOverflows, notEmitted                    int64
	truncated, skipped                              int64 // capture records cut by the snap length, of other interfaces
	nameWatchFailures                               int64 // 1 once interface names are looked up per packet

	readBufferBytes int64
	// hasReadBuffer is false on replay: a file has no receive buffer, and
	// a made-up 0 would read as an empty buffer on the dashboards and mix
	// with the live readers' sizes.
	hasReadBuffer bool
}

// emit adds nflog_stats as two metrics of one measurement, tag set and time:
// the monotonic counts with AddCounter, named *_total, and the receive
// buffer's size with AddGauge. outputs.prometheus_client types each field's
// family from its metric (TYPE counter, TYPE gauge), where a single metric
// would make them all one type; InfluxDB merges the two into one point.
func (s *readerStats) emit(acc telegraf.Accumulator, tags map[string]string, now time.Time) {
	acc.AddCounter(measurementStats, map[string]any{
		"packets_received_total":           s.received,
		"overruns_total":                   s.overruns,
		"packets_lost_total":               s.lost,
		"decode_errors_total":              s.decodeErrors,
		"buffer_growths_total":             s.growths,
		"counter_overflows_total":          s.counterOverflows,
		"packet_metrics_not_emitted_total": s.notEmitted,
		"packets_truncated_total":          s.truncated,
		"packets_skipped_total":            s.skipped,
		"name_watch_failures_total":        s.nameWatchFailures,
	}, tags, now)
	if s.hasReadBuffer {
		acc.AddGauge(measurementStats, map[string]any{"read_buffer_bytes": s.readBufferBytes}, tags, now)
	}
}

// logGrowth says once per interval in which it happened that overruns made
// the receive buffer grow, and warns when it reached max_read_buffer_size,
// after which overruns can only be counted.
func (n *NFLOG) logGrowth(st readerStats) {
	if uint64(st.growths) <= n.growths {
		return
	}
	n.growths = uint64(st.growths)
	size := st.readBufferBytes
	if max := int64(n.MaxReadBufferSize); size >= max {
		n.Log.Warnf("Overruns grew the receive buffer to %d bytes, its maximum (max_read_buffer_size): "+
			"further overruns drop messages; raise max_read_buffer_size or queue_threshold", size)
		return
	}
	n.Log.Infof("Overruns grew the receive buffer to %d bytes (up to max_read_buffer_size = %d)", size, int64(n.MaxReadBufferSize))
}

// updateStats copies the reader's counters to selfstat and returns them
// for nflog_stats.
func (n *NFLOG) updateStats() readerStats {
	st := n.reader.Stats()
	var overflows int64
	if n.build.counters != nil {
		overflows = n.build.counters.overflows()
	}
	s := readerStats{
		received:          int64(st.Received),
		overruns:          int64(st.Overruns),
		lost:              int64(st.Lost),
		decodeErrors:      int64(st.DecodeErrors),
		growths:           int64(st.BufferGrowths),
		counterOverflows:  overflows,
		notEmitted:        n.build.limit.notEmitted(),
		truncated:         int64(st.Truncated),
		skipped:           int64(st.Skipped),
		nameWatchFailures: int64(st.NameWatchFailures),
	}
	if size, err := n.reader.ReadBufferSize(); err == nil && n.replay == "" {
		s.readBufferBytes, s.hasReadBuffer = int64(size), true
	}
	n.stats.received.Set(s.received)
	n.stats.overruns.Set(s.overruns)
	n.stats.lost.Set(s.lost)
	n.stats.decodeErrors.Set(s.decodeErrors)
	n.stats.growths.Set(s.growths)
	n.stats.counterOverflows.Set(s.counterOverflows)
	n.stats.notEmitted.Set(s.notEmitted)
	n.stats.truncated.Set(s.truncated)
	n.stats.skipped.Set(s.skipped)
	n.stats.nameWatchFailures.Set(s.nameWatchFailures)
	return s
}
