//go:build linux

package nflog

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/outputs/prometheus_client"
	"github.com/influxdata/telegraf/plugins/parsers/influx"
	influxserializer "github.com/influxdata/telegraf/plugins/serializers/influx"
	serializers_prometheus "github.com/influxdata/telegraf/plugins/serializers/prometheus"
	"github.com/influxdata/telegraf/testutil"
)

// promScrape is what a Prometheus scrape of outputs.prometheus_client
// shows: the TYPE of each family and the samples, keyed by name and
// non-empty labels ("name{a="1",b="2"}"), with their timestamps.
type promScrape struct {
	types   map[string]string
	samples map[string]string // value and timestamp, as written
}

var promSample = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)(?: (\d+))?$`)

func scrape(t *testing.T, url string) promScrape {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	s := promScrape{types: map[string]string{}, samples: map[string]string{}}
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			s.types[f[2]] = f[3]
			continue
		}
		m := promSample.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var labels []string
		for _, l := range strings.Split(strings.Trim(m[2], "{}"), ",") {
			if l != "" && !strings.HasSuffix(l, `=""`) {
				labels = append(labels, l)
			}
		}
		s.samples[m[1]+"{"+strings.Join(labels, ",")+"}"] = strings.TrimSpace(m[3] + " " + m[4])
	}
	return s
}

// The plugin's metrics as outputs.prometheus_client exposes them: counters
// typed counter with *_total names, gauges typed gauge, the rankings with
// the key as labels and, with export_timestamp, each sample at its Gather's
// time. Under execd line protocol carries no type; the metric_types of the
// README give the same result.
func TestPrometheusClientTypes(t *testing.T) {
	n := newPlugin(t, withTop("counters,top", rankingConfig{Name: "src", Key: []string{"src"}, Size: intp(2)}))
	acc := replay(t, n, rankingPackets(t))
	require.NoError(t, n.Gather(acc))
	now := time.Unix(1700000000, 0)
	// A live reader's statistics besides the replay's (group 5, from the
	// capture, without the gauge).
	(&readerStats{received: 17, readBufferBytes: 8 << 20, hasReadBuffer: true}).emit(acc, map[string]string{"group": "6"}, now)
	typed := acc.GetTelegrafMetrics()

	// The same through line protocol, as the execd binary writes it.
	ser := &influxserializer.Serializer{}
	require.NoError(t, ser.Init())
	parser := &influx.Parser{}
	require.NoError(t, parser.Init())
	var untyped []telegraf.Metric
	for _, m := range typed {
		b, err := ser.Serialize(m)
		require.NoError(t, err)
		ms, err := parser.Parse(b)
		require.NoError(t, err)
		require.Equal(t, telegraf.Untyped, ms[0].Type())
		untyped = append(untyped, ms...)
	}
	readmeTypes := serializers_prometheus.MetricTypes{
		Counter: []string{"nflog_counters_*_total", "nflog_stats_*_total"},
		Gauge:   []string{"nflog_stats_read_buffer_bytes", "nflog_top_*"},
	}

	for _, tt := range []struct {
		name    string
		metrics []telegraf.Metric
		types   serializers_prometheus.MetricTypes
	}{
		{"typed", typed, serializers_prometheus.MetricTypes{}},
		{"line protocol with metric_types", untyped, readmeTypes},
	} {
		for _, version := range []int{1, 2} {
			t.Run(tt.name+"/v"+strconv.Itoa(version), func(t *testing.T) {
				p := &prometheus_client.PrometheusClient{
					Listen:             "127.0.0.1:0",
					MetricVersion:      version,
					ExportTimestamp:    true,
					ExpirationInterval: config.Duration(time.Minute),
					CollectorsExclude:  []string{"gocollector", "process"},
					StringAsLabel:      true,
					TypeMappings:       tt.types,
					Log:                testutil.Logger{},
				}
				require.NoError(t, p.Init())
				require.NoError(t, p.Connect())
				defer p.Close()
				require.NoError(t, p.Write(tt.metrics))
				s := scrape(t, p.URL())

				for name, want := range map[string]string{
					"nflog_counters_packets_total":                 "counter",
					"nflog_counters_bytes_total":                   "counter",
					"nflog_stats_packets_received_total":           "counter",
					"nflog_stats_overruns_total":                   "counter",
					"nflog_stats_packets_lost_total":               "counter",
					"nflog_stats_decode_errors_total":              "counter",
					"nflog_stats_buffer_growths_total":             "counter",
					"nflog_stats_counter_overflows_total":          "counter",
					"nflog_stats_packet_metrics_not_emitted_total": "counter",
					"nflog_stats_packets_truncated_total":          "counter",
					"nflog_stats_packets_skipped_total":            "counter",
					"nflog_stats_name_watch_failures_total":        "counter",
					"nflog_stats_read_buffer_bytes":                "gauge",
					"nflog_top_packets":                            "gauge",
					"nflog_top_bytes":                              "gauge",
					"nflog_top_max_overcount":                      "gauge",
					"nflog_top_rank":                               "gauge",
				} {
					require.Equal(t, want, s.types[name], "# TYPE %s", name)
				}
				// The key is a label; each sample carries its time (ms).
				var gatherTime int64
				for _, m := range typed {
					if m.Name() == measurementTop {
						gatherTime = m.Time().UnixMilli()
					}
				}
				ts := " " + itoa(gatherTime)
				require.Equal(t, "7"+ts, s.samples[`nflog_top_packets{ranking="src",src="10.0.0.1"}`], "%v", s.samples)
				require.Equal(t, "4"+ts, s.samples[`nflog_top_packets{ranking="src",src="10.0.1.1"}`])
				require.Equal(t, "6"+ts, s.samples[`nflog_top_packets{ranking="src",src="other"}`])
				require.Equal(t, "1"+ts, s.samples[`nflog_top_rank{ranking="src",src="10.0.0.1"}`])
				require.Equal(t, "17 "+itoa(now.UnixMilli()), s.samples[`nflog_stats_packets_received_total{group="6"}`])
				require.Equal(t, "8.388608e+06 "+itoa(now.UnixMilli()), s.samples[`nflog_stats_read_buffer_bytes{group="6"}`])
				require.Equal(t, "17"+ts, s.samples[`nflog_stats_packets_received_total{group="5"}`], "the replay's")
				require.NotContains(t, s.samples, `nflog_stats_read_buffer_bytes{group="5"}`)
			})
		}
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// readmeTOML returns the TOML blocks of the README section under heading,
// up to the next heading of any level.
func readmeTOML(t *testing.T, heading string) []string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "\n"+heading+"\n")
	require.True(t, ok, "README.md has no %q", heading)
	for _, next := range []string{"\n## ", "\n### "} {
		if i := strings.Index(section, next); i >= 0 {
			section = section[:i]
		}
	}
	var blocks []string
	for {
		_, rest, ok := strings.Cut(section, "```toml\n")
		if !ok {
			return blocks
		}
		block, after, ok := strings.Cut(rest, "```")
		require.True(t, ok)
		blocks = append(blocks, block)
		section = after
	}
}

// The README's Prometheus configurations, in-tree and under execd, as a
// user copies them: Telegraf's loader builds the plugin and the output
// from the snippets, the plugin reads packets, and the scrape shows the
// counters, typed. With the plugin's default metrics ("packets") it would
// show only nflog_stats.
func TestReadmePrometheusSnippets(t *testing.T) {
	for _, tt := range []struct {
		heading      string
		lineProtocol bool // under execd: the metrics cross as line protocol
	}{
		{"### Prometheus", false},
		{"### Running under execd", true},
	} {
		t.Run(tt.heading, func(t *testing.T) {
			var input, output string
			for _, b := range readmeTOML(t, tt.heading) {
				if i := strings.Index(b, "[[inputs.nflog]]"); i >= 0 {
					input, _, _ = strings.Cut(b[i:], "[[outputs.")
				}
				// The [[inputs.execd]] table before it is not compiled in here.
				if i := strings.Index(b, "[[outputs.prometheus_client]]"); i >= 0 {
					output = b[i:]
				}
			}
			require.NotEmpty(t, input, "no [[inputs.nflog]] snippet")
			require.NotEmpty(t, output, "no [[outputs.prometheus_client]] snippet")
			c := config.NewConfig()
			require.NoError(t, c.LoadConfigData([]byte(input+"\n"+output), config.EmptySourcePath))
			require.Len(t, c.Inputs, 1)
			require.Len(t, c.Outputs, 1)
			n := c.Inputs[0].Input.(*NFLOG)
			t.Cleanup(n.Statistics.UnregisterAll)
			ro := c.Outputs[0]
			p := ro.Output.(*prometheus_client.PrometheusClient)
			p.Listen = "127.0.0.1:0"
			p.CollectorsExclude = []string{"gocollector", "process"}
			require.NoError(t, ro.Init())
			require.NoError(t, ro.Connect())
			t.Cleanup(ro.Close)

			acc := replay(t, n, rankingPackets(t))
			require.NoError(t, n.Gather(acc))
			metrics := acc.GetTelegrafMetrics()
			if tt.lineProtocol {
				ser := &influxserializer.Serializer{}
				require.NoError(t, ser.Init())
				parser := &influx.Parser{}
				require.NoError(t, parser.Init())
				var untyped []telegraf.Metric
				for _, m := range metrics {
					b, err := ser.Serialize(m)
					require.NoError(t, err)
					ms, err := parser.Parse(b)
					require.NoError(t, err)
					untyped = append(untyped, ms...)
				}
				metrics = untyped
			}
			for _, m := range metrics {
				ro.AddMetric(m)
			}
			require.NoError(t, ro.Write())

			s := scrape(t, p.URL())
			require.Equal(t, "counter", s.types["nflog_counters_packets_total"], "%v", s.types)
			require.Equal(t, "counter", s.types["nflog_counters_bytes_total"])
			require.Equal(t, "counter", s.types["nflog_stats_packets_received_total"])
			var packets int
			for k, v := range s.samples {
				if strings.HasPrefix(k, "nflog_counters_packets_total{") {
					f, _, _ := strings.Cut(v, " ")
					c, err := strconv.ParseFloat(f, 64)
					require.NoError(t, err)
					packets += int(c)
				}
				require.False(t, strings.HasPrefix(k, "nflog_len"), "the per-packet stream is kept out: %s", k)
			}
			require.Equal(t, 17, packets, "every packet counted")
		})
	}
}
