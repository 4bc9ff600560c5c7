//go:build linux

package nflog

import (
	"github.com/influxdata/telegraf/selfstat"
)

const measurementStats = "nflog_stats"

// pluginStats are the selfstat counters, mirrored from the reader's Stats
// and the counter set.
type pluginStats struct {
	received, overruns, lost, decodeErrors, growths, counterOverflows selfstat.Stat
}

func newPluginStats(c *selfstat.Collector, tags map[string]string) pluginStats {
	return pluginStats{
		received:         c.Register("nflog", "packets_received", tags),
		overruns:         c.Register("nflog", "overruns", tags),
		lost:             c.Register("nflog", "packets_lost", tags),
		decodeErrors:     c.Register("nflog", "decode_errors", tags),
		growths:          c.Register("nflog", "buffer_growths", tags),
		counterOverflows: c.Register("nflog", "counter_overflows", tags),
	}
}

// logGrowth says once per interval in which it happened that overruns made
// the receive buffer grow, and warns when it reached max_read_buffer_size,
// after which overruns can only be counted.
func (n *NFLOG) logGrowth(fields map[string]any) {
	grown, _ := fields["buffer_growths"].(int64)
	size, _ := fields["read_buffer_bytes"].(int64)
	if uint64(grown) <= n.growths {
		return
	}
	n.growths = uint64(grown)
	if max := int64(n.MaxReadBufferSize); size >= max {
		n.Log.Warnf("Overruns grew the receive buffer to %d bytes, its maximum (max_read_buffer_size): "+
			"further overruns drop messages; raise max_read_buffer_size or queue_threshold", size)
		return
	}
	n.Log.Infof("Overruns grew the receive buffer to %d bytes (up to max_read_buffer_size = %d)", size, int64(n.MaxReadBufferSize))
}

// updateStats copies the reader's counters to selfstat and returns them as
// the fields of nflog_stats.
func (n *NFLOG) updateStats() map[string]any {
	st := n.reader.Stats()
	var overflows int64
	if n.build.counters != nil {
		overflows = n.build.counters.overflows()
	}
	n.stats.received.Set(int64(st.Received))
	n.stats.overruns.Set(int64(st.Overruns))
	n.stats.lost.Set(int64(st.Lost))
	n.stats.decodeErrors.Set(int64(st.DecodeErrors))
	n.stats.growths.Set(int64(st.BufferGrowths))
	n.stats.counterOverflows.Set(overflows)
	fields := map[string]any{
		"packets_received":  int64(st.Received),
		"overruns":          int64(st.Overruns),
		"packets_lost":      int64(st.Lost),
		"decode_errors":     int64(st.DecodeErrors),
		"buffer_growths":    int64(st.BufferGrowths),
		"counter_overflows": overflows,
	}
	if size, err := n.reader.ReadBufferSize(); err == nil && n.replay == "" {
		fields["read_buffer_bytes"] = int64(size)
	}
	return fields
}
