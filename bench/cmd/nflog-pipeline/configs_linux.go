//go:build linux

package main

import (
	"fmt"
	"path/filepath"
	"strings"
)

// The configurations of the three pipelines, in both modes. Everything a
// pipeline writes goes to its trial's directory: the points file (what a
// database would receive), the stats file (the figures that count losses)
// and, for ulogd, its JSON file and log.

const (
	pipeIntree = "1"
	pipeExecd  = "2"
	pipeUlogd  = "3"

	modePackets  = "packets"
	modeCounters = "counters"

	pointsAlias = "points"
)

var pipeNames = map[string]string{
	pipeIntree: "1: inputs.nflog in Telegraf",
	pipeExecd:  "2: execd binary → inputs.execd",
	pipeUlogd:  "3: ulogd2 JSON → inputs.tail (json_v2)",
}

// trialFiles are the paths of one trial.
type trialFiles struct {
	dir, points, stats, telegrafConf, pluginConf, ulogdConf, ulogdJSON, ulogdLog string
	// influxURL: the trial's influxd (-influxdb), empty without one.
	influxURL string
}

func newTrialFiles(dir string) trialFiles {
	return trialFiles{
		dir:          dir,
		points:       filepath.Join(dir, "points.out"),
		stats:        filepath.Join(dir, "stats.out"),
		telegrafConf: filepath.Join(dir, "telegraf.conf"),
		pluginConf:   filepath.Join(dir, "plugin.conf"),
		ulogdConf:    filepath.Join(dir, "ulogd.conf"),
		ulogdJSON:    filepath.Join(dir, "ulogd.json"),
		ulogdLog:     filepath.Join(dir, "ulogd.log"),
	}
}

// agentConf is the part every pipeline's Telegraf shares: a 1 s interval
// and flush (the counters, statistics and internal metrics each second),
// the internal metrics, and the two file outputs.
func (h *harness) agentConf(f trialFiles, pointNames []string) string {
	q := make([]string, len(pointNames))
	for i, n := range pointNames {
		q[i] = fmt.Sprintf("%q", n)
	}
	db := ""
	if f.influxURL != "" {
		db = influxOutputConf(f.influxURL, pointNames)
	}
	return fmt.Sprintf(`[agent]
  interval = "1s"
  flush_interval = "1s"
  flush_jitter = "0s"
  collection_jitter = "0s"
  round_interval = true
  metric_batch_size = 1000
  metric_buffer_limit = %d
  omit_hostname = true

[[inputs.internal]]
  collect_memstats = false

## What a database would receive.
[[outputs.file]]
  alias = %q
  files = [%q]
  data_format = "influx"
  namepass = [%s]

## The figures that count losses.
[[outputs.file]]
  alias = "stats"
  files = [%q]
  data_format = "influx"
  namepass = ["nflog_stats", "internal_write", "internal_aggregate"]
%s`, h.o.bufferLimit, pointsAlias, f.points, strings.Join(q, ", "), f.stats, db)
}

// pluginConf is [[inputs.nflog]] as pipelines 1 and 2 run it: the same
// reader settings as ulogd's in pipeline 3 (group, threshold, flush
// timeout, copy range, socket and batch buffers, sequence numbers).
func (h *harness) pluginConf(ns, mode string) string {
	o := h.o
	netns := ""
	if ns != "" {
		netns = fmt.Sprintf("  netns = %q\n", "/run/netns/"+ns)
	}
	readMode := ""
	if o.readMode != "" {
		readMode = fmt.Sprintf("  read_mode = %q\n", o.readMode)
	}
	return fmt.Sprintf(`[[inputs.nflog]]
  groups = [%d]
%s  copy_mode = "packet"
  copy_range = %d
  flush_timeout = %q
  queue_threshold = %d
  read_buffer_size = "%d"
  max_read_buffer_size = 0
  netlink_buffer_size = "%d"
  on_overrun = "count"
  sequence = "group"
  metrics = %q
`, o.group, netns, o.copyRange, o.flush.String(), o.threshold, o.rcvbuf, o.nlbuf, mode) + readMode
}

// telegrafConf returns the Telegraf configuration of pipeline p in mode.
func (h *harness) telegrafConf(p, mode string, f trialFiles, ns string) string {
	switch p {
	case pipeIntree:
		return h.agentConf(f, []string{"nflog", "nflog_counters"}) + "\n" + h.pluginConf(ns, mode)
	case pipeExecd:
		return h.agentConf(f, []string{"nflog", "nflog_counters"}) + fmt.Sprintf(`
[[inputs.execd]]
  command = [%q, "-config", %q, "-poll-interval", "1s"]
  signal = "none"
  restart_delay = "10s"
  data_format = "influx"
`, h.execd, f.pluginConf)
	case pipeUlogd:
		conf := h.agentConf(f, []string{"ulogd"}) + fmt.Sprintf(`
## ulogd's JSON lines: the tags and fields of the plugin's nflog metric
## (proto/ip_proto, outdev, uid, prefix; len, mark) and the packet's time.
[[inputs.tail]]
  files = [%q]
  initial_read_offset = "beginning"
  watch_method = "inotify"
  path_tag = ""
  data_format = "json_v2"
  [[inputs.tail.json_v2]]
    measurement_name = "ulogd"
    timestamp_path = "timestamp"
    ## ulogd 2.0.8 writes the zone offset only where it is not UTC (its
    ## JSON plugin compares the offset with an initial 0); ulogd runs
    ## with TZ=UTC here.
    timestamp_format = "2006-01-02T15:04:05.000000"
    timestamp_timezone = "UTC"
    [[inputs.tail.json_v2.tag]]
      path = 'ip\.protocol'
      rename = "ip_proto"
      optional = true
    [[inputs.tail.json_v2.tag]]
      path = 'oob\.out'
      rename = "outdev"
      optional = true
    [[inputs.tail.json_v2.tag]]
      path = 'oob\.uid'
      rename = "uid"
      optional = true
    [[inputs.tail.json_v2.tag]]
      path = 'oob\.prefix'
      rename = "prefix"
      optional = true
    [[inputs.tail.json_v2.field]]
      path = 'ip\.totlen'
      rename = "len"
      type = "int"
    [[inputs.tail.json_v2.field]]
      path = 'oob\.mark'
      rename = "mark"
      type = "int"
      optional = true
`, f.ulogdJSON)
		if mode == modeCounters {
			// What a user counting ulogd's packets per tag set would
			// configure: count and sum of len each period, the
			// per-packet metrics dropped.
			conf += fmt.Sprintf(`
[[aggregators.basicstats]]
  period = %q
  grace = "10s"
  drop_original = true
  stats = ["count", "sum"]
  namepass = ["ulogd"]
  fieldinclude = ["len"]
`, h.o.aggPeriod.String())
		}
		return conf
	}
	panic("unknown pipeline " + p)
}

// ulogdConf is ulogd2's configuration: Debian's JSON stack (NFLOG, BASE,
// IFINDEX, IP2STR, HWHDR, JSON, as in the commented example of
// /etc/ulogd.conf) with the reader settings of the other pipelines where
// ulogd has them:
//   - netlink_socket_buffer_size, with netlink_socket_buffer_maxsize one
//     byte more: ulogd sets a size only when it is below the maximum, so
//     this sets the buffer and forbids its growth, as max_read_buffer_size
//     = 0 does for the plugin;
//   - netlink_qthreshold and netlink_qtimeout (in 10 ms);
//   - seq_local = 1 (which sets the global sequence numbers too: ulogd
//     2.0.8 tests seq_local for both flags): the harness counts the gaps in
//     ulogd's JSON file, as ulogd counts no lost packets itself;
//   - ulogd has no setting for the kernel's batch buffer (nlbufsiz): its
//     batches stay at the kernel's default of one page, where the plugin's
//     are netlink_buffer_size; "bufsize" (its recv buffer) keeps its default.
//
// JSON "sync = 1" flushes each line, as a file that Telegraf tails needs
// (otherwise the last lines wait in stdio's buffer until ulogd exits).
func (h *harness) ulogdConf(f trialFiles) string {
	o := h.o
	var b strings.Builder
	fmt.Fprintf(&b, "[global]\nlogfile=%q\nloglevel=3\n", f.ulogdLog)
	for _, p := range []string{"inppkt_NFLOG", "raw2packet_BASE", "filter_IFINDEX", "filter_IP2STR", "filter_HWHDR", "output_JSON"} {
		fmt.Fprintf(&b, "plugin=%q\n", filepath.Join(h.ulogdPlugins, "ulogd_"+p+".so"))
	}
	fmt.Fprintf(&b, `stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,mac2str1:HWHDR,json1:JSON

[log1]
group=%d
netlink_socket_buffer_size=%d
netlink_socket_buffer_maxsize=%d
netlink_qthreshold=%d
netlink_qtimeout=%d
seq_local=1

[json1]
file=%q
sync=1
`, o.group, o.rcvbuf, o.rcvbuf+1, o.threshold, int(o.flush.Milliseconds()/10), f.ulogdJSON)
	return b.String()
}
