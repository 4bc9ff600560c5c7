//go:build linux

package nflog

import (
	"time"

	"github.com/influxdata/telegraf"
)

// readerStats are the plugin's statistics at one Gather: the reader's
// counters, the counter set's overflows and the rate limit's packet metrics
// not emitted.
type readerStats struct {
	received, overruns, lost, decodeErrors, growths int64
	counterOverflows, notEmitted                    int64

	readBufferBytes int64
	hasReadBuffer   bool // false on replay: a file has no receive buffer
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
	}, tags, now)
	if s.hasReadBuffer {
		acc.AddGauge(measurementStats, map[string]any{"read_buffer_bytes": s.readBufferBytes}, tags, now)
	}
}
