package dashboards

import "fmt"

// The queries of both dashboards, side by side. Names follow what Telegraf
// makes of the plugin's metrics: in InfluxDB the measurements nflog,
// nflog_counters, nflog_top and nflog_stats with their fields; in
// Prometheus (outputs.prometheus_client, metric_version 2) one metric per
// field, measurement_field, e.g. nflog_counters_packets_total.

// ---- Packets over time, from the counters ----------------------------------

// influxCounterRate is the rate of nflog_counters' packets_total, summed by
// the tag by. A counter is a running total per tag set, so the rate is
// taken per series first (GROUP BY *, non_negative_derivative ignores the
// drop of a restart) and summed afterwards: summing totals of series that
// start and stop at different times would make steps that are not traffic.
func influxCounterRate(by string) string {
	return fmt.Sprintf(`SELECT sum("pps") FROM (`+
		`SELECT non_negative_derivative(last("packets_total"), 1s) AS "pps" FROM "nflog_counters" `+
		`WHERE $timeFilter GROUP BY time($__interval), *`+
		`) WHERE $timeFilter GROUP BY time($__interval), %q`, by)
}

// promCounterRate is the same in PromQL: rate() per series, then sum.
func promCounterRate(by string) string {
	return fmt.Sprintf(`sum by (%s) (rate(nflog_counters_packets_total[$__rate_interval]))`, by)
}

// ---- Rankings -----------------------------------------------------------------

// topN is how many entries the ranking panels show: the shipped rankings'
// size.
const topN = 10

// influxTop sums each key's packets in nflog_top over the dashboard's range
// and keeps the topN keys, largest first. Each interval a ranking writes
// its top entries and an "other" entry; the sum over the range is every
// packet of a key in the intervals in which it was listed.
func influxTop(ranking string) string {
	return fmt.Sprintf(`SELECT top("packets", %[1]q, %[2]d) AS "packets" FROM (`+
		`SELECT sum("packets") AS "packets" FROM "nflog_top" `+
		`WHERE "ranking" = '%[1]s' AND %[1]q <> 'other' AND $timeFilter GROUP BY %[1]q)`,
		ranking, topN)
}

// promTop is the same in PromQL. With export_timestamp = true on
// outputs.prometheus_client each interval's entry is one sample at the
// interval's time, so sum_over_time over the range adds up the intervals
// exactly (without it every scrape would store the entry again).
func promTop(ranking string) string {
	return fmt.Sprintf(`topk(%[2]d, sum by (%[1]s) (sum_over_time(nflog_top_packets{ranking=%[1]q, %[1]s!="other"}[$__range])))`,
		ranking, topN)
}

// ---- Recent blocks ----------------------------------------------------------

// recentBlocksLimit bounds the rows of the table of recent blocks.
const recentBlocksLimit = 100

// influxRecentBlocks lists the last dropped packets from the per-packet
// metric, which carries the addresses and the port as fields.
var influxRecentBlocks = fmt.Sprintf(`SELECT "src", "dst", "dport", "ip_proto", "indev", "prefix" FROM "nflog" `+
	`WHERE "action" = 'drop' AND $timeFilter ORDER BY time DESC LIMIT %d`, recentBlocksLimit)

// promLastIntervalSources is the source ranking of each reader's last
// interval. Prometheus holds no per-packet data; the newest nflog_top
// entries are the closest thing. The samples carry Telegraf's timestamps,
// so the last interval's entries are those with the newest timestamp of
// their reader (instance): an instant selector alone would also return
// keys that left the ranking up to five minutes ago.
const promLastIntervalSources = `nflog_top_packets{ranking="src", src!="other"} and ` +
	`(timestamp(nflog_top_packets{ranking="src", src!="other"}) == on (instance, job) group_left () ` +
	`max by (instance, job) (timestamp(nflog_top_packets{ranking="src", src!="other"})))`

// ---- Reader health -----------------------------------------------------------

// statCounter is a reader statistic of nflog_stats, a counter.
type statCounter struct {
	field  string // in InfluxDB; Prometheus: nflog_stats_<field>
	legend string
}

var (
	statLost       = statCounter{"packets_lost_total", "lost"}
	statOverruns   = statCounter{"overruns_total", "overruns"}
	statDecodeErrs = statCounter{"decode_errors_total", "decode errors"}
	statNotEmitted = statCounter{"packet_metrics_not_emitted_total", "packet metrics not emitted"}
	// problemStats are the statistics that must stay at zero.
	problemStats = []statCounter{statOverruns, statLost, statDecodeErrs, statNotEmitted}
)

// influxStatIncrease is how much the statistic grew over the range, summed
// over the readers: the increase per interval and series
// (non_negative_difference, so that a restart does not count negative),
// then the sum.
func influxStatIncrease(s statCounter) string {
	return fmt.Sprintf(`SELECT sum("d") FROM (`+
		`SELECT non_negative_difference(last(%q)) AS "d" FROM "nflog_stats" `+
		`WHERE $timeFilter GROUP BY time($__interval), *`+
		`) WHERE $timeFilter`, s.field)
}

func promStatIncrease(s statCounter) string {
	return fmt.Sprintf(`sum(increase(nflog_stats_%s[$__range]))`, s.field)
}

// influxStatRates is the per-second rate of every problem statistic, each
// summed over the readers, in one query (one series per column).
func influxStatRates() string {
	inner, outer := "", ""
	for i, s := range problemStats {
		sep := ", "
		if i == 0 {
			sep = ""
		}
		inner += fmt.Sprintf(`%snon_negative_derivative(last(%q), 1s) AS %q`, sep, s.field, s.field)
		outer += fmt.Sprintf(`%ssum(%q) AS %q`, sep, s.field, s.legend)
	}
	return `SELECT ` + outer + ` FROM (SELECT ` + inner + ` FROM "nflog_stats" ` +
		`WHERE $timeFilter GROUP BY time($__interval), *) WHERE $timeFilter GROUP BY time($__interval)`
}

func promStatRate(s statCounter) string {
	return fmt.Sprintf(`sum(rate(nflog_stats_%s[$__rate_interval]))`, s.field)
}

// The receive buffer the kernel granted, a gauge, per reader.
const (
	influxReadBuffer = `SELECT last("read_buffer_bytes") FROM "nflog_stats" WHERE $timeFilter ` +
		`GROUP BY time($__interval), "host", "group"`
	influxReadBufferAlias = `$tag_host group $tag_group`
	promReadBuffer        = `max by (instance, group) (nflog_stats_read_buffer_bytes)`
	promReadBufferLegend  = `{{instance}} group {{group}}`
)
