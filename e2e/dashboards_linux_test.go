//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/nflogr/telegraf-nflog/testutil"
)

// The shipped files the test runs and checks.
const (
	shippedTelegrafConf = "../dashboards/telegraf.conf"
	shippedPluginConf   = "../dashboards/nflog.conf"
	shippedRules        = "../prometheus/nflog.rules.yml"
	shippedDashboards   = "../dashboards"
)

// Intervals of the test, shorter than the shipped 10 s. Samples come every
// pollInterval; Prometheus scrapes twice as often and Telegraf flushes
// twice as often, as the shipped configuration requires.
const (
	pollInterval   = 2 * time.Second
	flushInterval  = time.Second
	scrapeInterval = time.Second
)

// How the test plays Grafana: the datasources' minimum interval (InfluxDB
// "Min time interval", Prometheus "Scrape interval") is set to Telegraf's
// interval, as the README says, because that is how far apart the samples
// are; for a range as short as the test's, Grafana's $__interval is that
// minimum.
const grafanaMinInterval = pollInterval

// flow is known traffic: count UDP datagrams (or ICMP echo requests) from
// src to dst:dport, sent from the namespace of its zone.
type flow struct {
	zone  string // "wan": arrives on wan0 and is dropped; "lan": on lan0, accepted
	src   string
	dst   string
	dport int // 0: ICMP echo
	count int
}

var zones = map[string]struct {
	prefix, action, indev string
}{
	"wan": {"DROP:wan", "drop", "wan0"},
	"lan": {"ACCEPT:lan", "accept", "lan0"},
}

var (
	// warmUp makes every counter series exist before the measured range,
	// so that the first sample of a series (whose increase no rate can
	// see) holds no measured packet.
	warmUp = []flow{
		{"wan", "198.18.0.2", "198.18.0.1", 9, 1},
		{"wan", "198.18.0.2", "198.18.0.1", 0, 1},
		{"lan", "198.19.1.2", "198.19.1.1", 9, 1},
	}
	// burst is the measured traffic: several sources, networks, ports
	// and both actions.
	burst = []flow{
		{"wan", "198.18.7.10", "198.18.0.1", 22, 30},
		{"wan", "198.18.7.11", "198.18.0.1", 23, 12},
		{"wan", "198.18.0.2", "198.18.0.1", 3389, 8},
		{"wan", "198.18.0.2", "198.18.0.1", 0, 5},
		{"lan", "198.19.1.2", "198.19.1.1", 53, 20},
		{"lan", "198.19.1.2", "198.19.1.1", 123, 6},
	}
	// last is sent at the end, alone in the last interval before the
	// dashboards are read.
	last = []flow{{"wan", "198.18.0.2", "198.18.0.1", 445, 7}}
)

// expected is what the dashboards must show for some flows: packets by
// each tag and ranking key.
type expected struct {
	by    map[string]map[string]float64 // tag -> value -> packets
	total float64
}

func expect(flows ...[]flow) expected {
	e := expected{by: map[string]map[string]float64{}}
	add := func(k, v string, n int) {
		if e.by[k] == nil {
			e.by[k] = map[string]float64{}
		}
		e.by[k][v] += float64(n)
	}
	for _, fs := range flows {
		for _, f := range fs {
			z := zones[f.zone]
			add("action", z.action, f.count)
			add("prefix", z.prefix, f.count)
			add("indev", z.indev, f.count)
			add("src", f.src, f.count)
			add("src_net", netip.PrefixFrom(netip.MustParseAddr(f.src), 24).Masked().String(), f.count)
			if f.dport == 0 {
				add("ip_proto", "icmp", f.count)
				add("dport", "none", f.count)
			} else {
				add("ip_proto", "udp", f.count)
				add("dport", strconv.Itoa(f.dport), f.count)
			}
			e.total += float64(f.count)
		}
	}
	return e
}

// TestE2EDashboards runs the shipped telegraf.conf and nflog.conf under a
// stock Telegraf writing to a real InfluxDB and to a real Prometheus server,
// sends known traffic through NFLOG rules, then runs every query of every
// panel of the shipped dashboards against the server of its datasource, as
// Grafana would, and checks the numbers each panel shows. A panel without a
// check here, or whose query breaks, fails the test.
func TestE2EDashboards(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: builds Telegraf and runs InfluxDB and Prometheus; skipped with -short")
	}
	testutil.RequireRoot(t)
	testutil.RequireTools(t, "go", "ip", "iptables", "setpriv", "setcap", "cat", "prometheus")
	requireInfluxd(t)
	nobody := lookupNobody(t)

	dir := worldReadableDir(t)
	telegraf := buildTelegraf(t, dir)
	plugin := buildPlugin(t, dir)

	// The firewall (fw) with two interfaces: wan0 towards a namespace
	// with sources in two networks, lan0 towards one with a third.
	fw, wan, lan := testutil.NewNetNS(t), testutil.NewNetNS(t), testutil.NewNetNS(t)
	fw.AddVeth(t, wan, "wan0", "peer0", "198.18.0.1/24", "198.18.0.2/24")
	fw.AddVeth(t, lan, "lan0", "peer1", "198.19.1.1/24", "198.19.1.2/24")
	fw.Run(t, "ip", "addr", "add", "198.18.7.1/24", "dev", "wan0")
	for _, a := range []string{"198.18.7.10/24", "198.18.7.11/24"} {
		wan.Run(t, "ip", "addr", "add", a, "dev", "peer0")
	}
	const group = 5 // nflog.conf's
	for _, r := range [][]string{
		{"-A", "INPUT", "-i", "wan0", "-m", "comment", "--comment", "dash-wan",
			"-j", "NFLOG", "--nflog-group", strconv.Itoa(group), "--nflog-prefix", "DROP:wan"},
		{"-A", "INPUT", "-i", "wan0", "-j", "DROP"},
		{"-A", "INPUT", "-i", "lan0", "-m", "comment", "--comment", "dash-lan",
			"-j", "NFLOG", "--nflog-group", strconv.Itoa(group), "--nflog-prefix", "ACCEPT:lan"},
	} {
		fw.Iptables(t, r...)
	}

	client := nsHTTPClient(fw)
	ports := freePorts(t, fw, 3)
	influxURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	promEndpoint := fmt.Sprintf("127.0.0.1:%d", ports[2])
	startInfluxd(t, fw, dir, client, influxURL, ports[0], ports[1])

	// The shipped configuration, with the test's paths, addresses and
	// intervals.
	pluginConf := filepath.Join(dir, "nflog.conf")
	copyFile(t, shippedPluginConf, pluginConf, 0o644)
	metricsOut := writeFile(t, dir, "metrics.out", "")
	if err := os.Chown(metricsOut, nobody.uid, nobody.gid); err != nil {
		t.Fatal(err)
	}
	conf := readFile(t, shippedTelegrafConf)
	for _, r := range []struct{ old, new string }{
		{"\n  interval = \"10s\"", fmt.Sprintf("\n  interval = %q", pollInterval)},
		{`flush_interval = "5s"`, fmt.Sprintf(`flush_interval = %q`, flushInterval)},
		{`"/usr/local/bin/telegraf-nflog"`, strconv.Quote(plugin)},
		{`"/etc/telegraf-nflog/nflog.conf"`, strconv.Quote(pluginConf)},
		{`"-poll-interval", "10s"`, fmt.Sprintf(`"-poll-interval", %q`, pollInterval)},
		{`urls = ["http://127.0.0.1:8086"]`, fmt.Sprintf(`urls = [%q]`, influxURL)},
		{`listen = ":9273"`, fmt.Sprintf(`listen = %q`, promEndpoint)},
		{`expiration_interval = "10s"`, fmt.Sprintf(`expiration_interval = %q`, pollInterval)},
	} {
		if n := strings.Count(conf, r.old); n != 1 {
			t.Fatalf("%s holds %q %d times, want once: the test adapts the shipped file through it", shippedTelegrafConf, r.old, n)
		}
		conf = strings.Replace(conf, r.old, r.new, 1)
	}
	conf += fmt.Sprintf("\n# Added by the test, to show on failure what Telegraf wrote.\n"+
		"[[outputs.file]]\n  files = [%q]\n  data_format = \"influx\"\n", metricsOut)
	telegrafConf := writeFile(t, dir, "telegraf.conf", conf)

	rules, err := filepath.Abs(shippedRules)
	if err != nil {
		t.Fatal(err)
	}
	prom := testutil.StartPrometheus(t, fw, testutil.PrometheusConfig{
		Job: "nflog", Targets: []string{promEndpoint}, ScrapeInterval: scrapeInterval, RuleFiles: []string{rules},
	})
	tg := startTelegraf(t, fw, dir, telegraf, telegrafConf, nobody, metricsOut)
	waitGroupBound(t, fw, group, tg)
	prom.WaitTargetsUp(t, startTimeout)

	env := &dashEnv{t: t, client: client, influxURL: influxURL, prom: prom}
	send := func(flows []flow) {
		t.Helper()
		for _, f := range flows {
			from := map[string]*testutil.NetNS{"wan": wan, "lan": lan}[f.zone]
			if f.dport == 0 {
				testutil.Ping(t, from, f.dst, f.count, 32)
				continue
			}
			testutil.SendUDPFrom(t, from, f.src+":0", fmt.Sprintf("%s:%d", f.dst, f.dport), make([]byte, 32), f.count)
		}
	}

	// Warm-up, then two samples without traffic: the first of them opens
	// the measured range (from), so that InfluxDB's rates have a value
	// before the traffic in their first interval.
	send(warmUp)
	tw := env.waitCounters(expect(warmUp).total, 0)
	tq := env.waitCounters(expect(warmUp).total, tw)
	tq2 := env.waitCounters(expect(warmUp).total, tq)
	from := time.Unix(0, tq).Truncate(time.Millisecond)

	send(burst)
	tb := env.waitCounters(expect(warmUp, burst).total, tq2)
	// Let Prometheus's rate windows ($__rate_interval) pass over the
	// burst before the last traffic.
	tAfter := tb
	for time.Duration(tAfter-tb) < 4*pollInterval {
		tAfter = env.waitCounters(expect(warmUp, burst).total, tAfter)
	}
	send(last)
	tl := env.waitCounters(expect(warmUp, burst, last).total, tAfter)
	to := time.Unix(0, tl).Add(time.Millisecond).Truncate(time.Millisecond)
	t.Logf("samples: warm-up %v, quiet %v and %v, burst %v, last %v; range %v .. %v (%v)",
		time.Unix(0, tw).Format(time.StampMilli), time.Unix(0, tq).Format(time.StampMilli),
		time.Unix(0, tq2).Format(time.StampMilli), time.Unix(0, tb).Format(time.StampMilli),
		time.Unix(0, tl).Format(time.StampMilli), from.Format(time.StampMilli), to.Format(time.StampMilli), to.Sub(from))

	// The kernel's view: every packet sent was logged.
	all := expect(warmUp, burst, last)
	if pk, _ := testutil.IptablesCounter(t, fw, "iptables", "filter", "INPUT", "dash-wan"); float64(pk) != all.by["action"]["drop"] {
		t.Fatalf("the DROP:wan rule matched %d packets, want %v", pk, all.by["action"]["drop"])
	}
	if pk, _ := testutil.IptablesCounter(t, fw, "iptables", "filter", "INPUT", "dash-lan"); float64(pk) != all.by["action"]["accept"] {
		t.Fatalf("the ACCEPT:lan rule matched %d packets, want %v", pk, all.by["action"]["accept"])
	}

	env.from, env.to = from, to
	env.want = expect(burst, last)
	env.lastInterval = tl
	for _, src := range []string{"influxdb", "prometheus"} {
		t.Run(src, func(t *testing.T) { env.checkDashboard(t, src) })
	}
	t.Run("prometheus-types", env.checkPromTypes)
	t.Run("prometheus-rules", env.checkPromRules)
}

// dashEnv is the running set-up and the measured range.
type dashEnv struct {
	t            *testing.T
	client       *http.Client
	influxURL    string
	prom         *testutil.PrometheusServer
	from, to     time.Time
	want         expected // packets in the range
	lastInterval int64    // time (ns) of the last sample in the range
}

// waitCounters waits for the first nflog_counters sample after the time
// after (ns since the epoch, 0 for any) in which the counters add up to
// total, in InfluxDB and in Prometheus, and returns its time. A sample that
// counts more fails the test (stray packets would make every check wrong).
func (e *dashEnv) waitCounters(total float64, after int64) int64 {
	t := e.t
	t.Helper()
	var at int64
	waitFor(t, resultTimeout, fmt.Sprintf("a sample after %d with nflog_counters adding up to %v", after, total), func() (bool, string) {
		s, err := influxSeries(e.client, e.influxURL, "ns", fmt.Sprintf(
			`SELECT "packets_total" FROM "nflog_counters" WHERE time > %d`, after))
		if err != nil {
			return false, err.Error()
		}
		// Every series is sampled at the Gather's time: sum by time.
		sums := map[int64]float64{}
		for _, sr := range s {
			for _, v := range sr.values {
				ts, err1 := v[0].(json.Number).Int64()
				n, err2 := v[1].(json.Number).Float64()
				if err := errors.Join(err1, err2); err != nil {
					return false, fmt.Sprintf("bad row %v: %v", v, err)
				}
				sums[ts] += n
			}
		}
		var rows []string
		for _, ts := range slices.Sorted(maps.Keys(sums)) {
			n := sums[ts]
			rows = append(rows, fmt.Sprintf("%d: %v", ts, n))
			if n > total {
				t.Fatalf("nflog_counters add up to %v at %d, want at most %v: packets the test did not send were logged", n, ts, total)
			}
			if n == total && at == 0 {
				at = ts
			}
		}
		if at == 0 {
			return false, strings.Join(rows, "\n")
		}
		// Prometheus has the sample (ms) too.
		v, err := e.promInstant(`sum(nflog_counters_packets_total) and on () (max(timestamp(nflog_counters_packets_total)) >= ` +
			strconv.FormatFloat(float64(at/int64(time.Millisecond))/1000, 'f', 3, 64) + `)`)
		if err != nil {
			return false, err.Error()
		}
		if vec, ok := v.(model.Vector); !ok || len(vec) != 1 || float64(vec[0].Value) < total {
			at = 0
			return false, fmt.Sprintf("InfluxDB has it, Prometheus not yet: %v", v)
		}
		return true, ""
	})
	return at
}

// ---- Reading the dashboards --------------------------------------------------

// dashPanel is a panel of a dashboard JSON, as far as the test reads it.
type dashPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []dashTarget `json:"targets"`
}

type dashTarget struct {
	RefID      string `json:"refId"`
	Datasource struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	// Prometheus
	Expr         string `json:"expr"`
	Instant      bool   `json:"instant"`
	Range        bool   `json:"range"`
	Format       string `json:"format"`
	LegendFormat string `json:"legendFormat"`
	// InfluxDB
	Query        string `json:"query"`
	RawQuery     bool   `json:"rawQuery"`
	ResultFormat string `json:"resultFormat"`
	Alias        string `json:"alias"`
}

// frame is what a query returned, in the shape Grafana shows it: series of
// (time, value) with their labels, and for tables rows of named columns.
type frame struct {
	series []series
	rows   []map[string]any
	step   time.Duration // between the points of a range query
}

type series struct {
	labels map[string]string
	points []point
}

type point struct {
	t time.Time
	v float64
}

func (e *dashEnv) checkDashboard(t *testing.T, src string) {
	file := filepath.Join(shippedDashboards, "nflog-"+src+".json")
	var d struct {
		Templating struct {
			List []struct{ Type, Name, Query string } `json:"list"`
		} `json:"templating"`
		Panels []dashPanel `json:"panels"`
	}
	if err := json.Unmarshal([]byte(readFile(t, file)), &d); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	dsVar := ""
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Query == src {
			dsVar = "${" + v.Name + "}"
		}
	}
	if dsVar == "" {
		t.Fatalf("%s has no datasource variable of type %s", file, src)
	}
	checks := panelChecks[src]
	seen := map[string]bool{}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		seen[p.Title] = true
		check, ok := checks[p.Title]
		if !ok {
			t.Errorf("panel %q of %s has no check in this test: add what it must show to panelChecks", p.Title, file)
			continue
		}
		t.Run(p.Title, func(t *testing.T) {
			var frames []frame
			for _, q := range p.Targets {
				if q.Datasource.Type != src || q.Datasource.UID != dsVar {
					t.Fatalf("query %s uses datasource %+v, want type %s uid %s", q.RefID, q.Datasource, src, dsVar)
				}
				f, text, err := e.run(src, q)
				if err != nil {
					t.Fatalf("query %s breaks: %v\n%s", q.RefID, err, text)
				}
				checkLegend(t, src, q, f)
				t.Logf("query %s: %s\n%s", q.RefID, text, f)
				frames = append(frames, f)
			}
			check(t, e, src, frames)
		})
	}
	for title := range checks {
		if !seen[title] {
			t.Errorf("panel %q is checked here but not in %s", title, file)
		}
	}
}

// checkLegend makes sure the series name a panel shows comes from labels
// its series have: a legend {{indev}} over a sum by (prefix) would be empty.
func checkLegend(t *testing.T, src string, q dashTarget, f frame) {
	t.Helper()
	re, legend := regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`), q.LegendFormat
	if src == "influxdb" {
		re, legend = regexp.MustCompile(`\$tag_(\w+)`), q.Alias
	}
	for _, m := range re.FindAllStringSubmatch(legend, -1) {
		for _, s := range f.series {
			if _, ok := s.labels[m[1]]; !ok {
				t.Errorf("legend %q names %q, which series %v lacks", legend, m[1], s.labels)
			}
		}
	}
}

// ---- Grafana's variables -------------------------------------------------------

var leftoverVariable = regexp.MustCompile(`\$\{?\w+`)

// interpolate replaces the variables Grafana replaces in a query, for the
// range [from, to]. A variable it does not know fails the query.
func (e *dashEnv) interpolate(src, q string) (string, error) {
	interval := e.interval()
	vars := map[string]string{
		"$__interval_ms": strconv.FormatInt(interval.Milliseconds(), 10),
		"$__interval":    promDuration(interval),
		"$__range_s":     strconv.FormatInt(int64(math.Round(e.to.Sub(e.from).Seconds())), 10),
		"$__range":       strconv.FormatInt(int64(math.Round(e.to.Sub(e.from).Seconds())), 10) + "s",
		// Grafana: max($__interval + scrape interval, 4 * scrape interval),
		// the scrape interval being the datasource's setting.
		"$__rate_interval": promDuration(max(interval+grafanaMinInterval, 4*grafanaMinInterval)),
		"$timeFilter":      fmt.Sprintf("time >= %dms and time <= %dms", e.from.UnixMilli(), e.to.UnixMilli()),
	}
	// Longest names first: $__interval_ms before $__interval.
	names := slices.Collect(maps.Keys(vars))
	slices.SortFunc(names, func(a, b string) int { return len(b) - len(a) })
	for _, n := range names {
		q = strings.ReplaceAll(q, n, vars[n])
	}
	if m := leftoverVariable.FindString(q); m != "" {
		return q, fmt.Errorf("the query uses %s, which this test does not know how Grafana replaces", m)
	}
	return q, nil
}

// interval is Grafana's $__interval for the range: the range over the
// panel's data points (about 1000 for a wide panel), at least the
// datasource's minimum interval, in whole seconds.
func (e *dashEnv) interval() time.Duration {
	iv := (e.to.Sub(e.from) / 1000).Round(time.Second)
	return max(iv, grafanaMinInterval)
}

func promDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// ---- Running queries -------------------------------------------------------------

// run runs a target against the server of its datasource as Grafana would
// and returns the frame and the query as run.
func (e *dashEnv) run(src string, q dashTarget) (frame, string, error) {
	switch src {
	case "influxdb":
		if !q.RawQuery {
			return frame{}, q.Query, errors.New("not a raw InfluxQL query (rawQuery = false): the test runs raw queries only")
		}
		text, err := e.interpolate(src, q.Query)
		if err != nil {
			return frame{}, text, err
		}
		ss, err := influxSeries(e.client, e.influxURL, "ms", text)
		if err != nil {
			return frame{}, text, err
		}
		return influxFrame(ss, e.interval()), text, nil
	case "prometheus":
		text, err := e.interpolate(src, q.Expr)
		if err != nil {
			return frame{}, text, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if q.Instant {
			v, _, err := e.prom.API.Query(ctx, text, e.to)
			if err != nil {
				return frame{}, text, err
			}
			return promFrame(v, 0), text, nil
		}
		// Grafana aligns the range to the step: start down, end up.
		step := e.interval()
		start := e.from.Truncate(step)
		end := e.to.Truncate(step)
		if end.Before(e.to) {
			end = end.Add(step)
		}
		v, _, err := e.prom.API.QueryRange(ctx, text, v1.Range{Start: start, End: end, Step: step})
		if err != nil {
			return frame{}, text, err
		}
		return promFrame(v, step), text, nil
	}
	return frame{}, "", fmt.Errorf("unknown datasource type %q", src)
}

func (e *dashEnv) promInstant(q string) (model.Value, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, _, err := e.prom.API.Query(ctx, q, time.Now())
	return v, err
}

type influxResult struct {
	tags    map[string]string
	columns []string
	values  [][]any
}

// influxSeries runs q against database nflog with times in epoch units
// ("ms" as Grafana asks, "ns" for exact times) and returns the series with
// their tags.
func influxSeries(client *http.Client, base, epoch, q string) ([]influxResult, error) {
	u := base + "/query?" + url.Values{"db": {"nflog"}, "epoch": {epoch}, "q": {q}}.Encode()
	resp, err := client.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var r struct {
		Results []struct {
			Error  string `json:"error"`
			Series []struct {
				Tags    map[string]string `json:"tags"`
				Columns []string          `json:"columns"`
				Values  [][]any           `json:"values"`
			} `json:"series"`
		} `json:"results"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %v: %s", resp.Status, err, body)
	}
	if r.Error != "" {
		return nil, errors.New(r.Error)
	}
	var out []influxResult
	for _, res := range r.Results {
		if res.Error != "" {
			return nil, errors.New(res.Error)
		}
		for _, s := range res.Series {
			out = append(out, influxResult{tags: s.Tags, columns: s.Columns, values: s.Values})
		}
	}
	return out, nil
}

// influxFrame turns InfluxDB series into Grafana's view: one series per
// value column (named by the column when there are several), and rows.
func influxFrame(ss []influxResult, step time.Duration) frame {
	f := frame{step: step}
	for _, s := range ss {
		for c := 1; c < len(s.columns); c++ {
			labels := maps.Clone(s.tags)
			if labels == nil {
				labels = map[string]string{}
			}
			labels["__column"] = s.columns[c]
			sr := series{labels: labels}
			for _, v := range s.values {
				n, ok := v[c].(json.Number)
				if !ok {
					continue // null, or a string column of a table
				}
				x, err := n.Float64()
				if err != nil {
					continue
				}
				ms, _ := v[0].(json.Number).Int64()
				sr.points = append(sr.points, point{time.UnixMilli(ms), x})
			}
			if len(sr.points) > 0 {
				f.series = append(f.series, sr)
			}
		}
		for _, v := range s.values {
			row := map[string]any{}
			for k, tv := range s.tags {
				row[k] = tv
			}
			for i, c := range s.columns {
				if i < len(v) && v[i] != nil {
					row[c] = v[i]
				}
			}
			f.rows = append(f.rows, row)
		}
	}
	return f
}

// promFrame turns a Prometheus result into series, and rows for instant
// results (labels and "Value", as Grafana's table format).
func promFrame(v model.Value, step time.Duration) frame {
	f := frame{step: step}
	labels := func(m model.Metric) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[string(k)] = string(v)
		}
		return out
	}
	switch v := v.(type) {
	case model.Matrix:
		for _, s := range v {
			sr := series{labels: labels(s.Metric)}
			for _, p := range s.Values {
				sr.points = append(sr.points, point{p.Timestamp.Time(), float64(p.Value)})
			}
			f.series = append(f.series, sr)
		}
	case model.Vector:
		for _, s := range v {
			l := labels(s.Metric)
			f.series = append(f.series, series{labels: l, points: []point{{s.Timestamp.Time(), float64(s.Value)}}})
			row := map[string]any{"Value": float64(s.Value)}
			for k, v := range l {
				row[k] = v
			}
			f.rows = append(f.rows, row)
		}
	case *model.Scalar:
		f.series = append(f.series, series{labels: map[string]string{}, points: []point{{v.Timestamp.Time(), float64(v.Value)}}})
	}
	return f
}

func (f frame) String() string {
	var b strings.Builder
	for _, s := range f.series {
		fmt.Fprintf(&b, "  %v:", s.labels)
		for i, p := range s.points {
			if i == 12 {
				fmt.Fprintf(&b, " ... (%d points)", len(s.points))
				break
			}
			fmt.Fprintf(&b, " %s=%g", p.t.Format("05.000"), p.v)
		}
		b.WriteByte('\n')
	}
	for i, r := range f.rows {
		if i == 5 {
			fmt.Fprintf(&b, "  ... (%d rows)\n", len(f.rows))
			break
		}
		fmt.Fprintf(&b, "  row %v\n", r)
	}
	return b.String()
}

// ---- What each panel must show -----------------------------------------------------

type panelCheck func(t *testing.T, e *dashEnv, src string, frames []frame)

// panelChecks holds, per datasource type, the check of each panel by title.
var panelChecks = map[string]map[string]panelCheck{
	"influxdb": {
		"Blocked vs. allowed":        rateBy("action"),
		"By prefix":                  rateBy("prefix"),
		"By input interface":         rateBy("indev"),
		"By protocol":                rateBy("ip_proto"),
		"Top source addresses":       ranking("src"),
		"Top destination ports":      ranking("dport"),
		"Top source networks":        ranking("src_net"),
		"Recent blocked packets":     recentBlocks,
		"Packets lost":               zeroStat,
		"Receive buffer overruns":    zeroStat,
		"Decode errors":              zeroStat,
		"Packet metrics not emitted": zeroStat,
		"Reader problems":            zeroRates,
		"Receive buffer size":        readBuffer,
	},
	"prometheus": {
		"Blocked vs. allowed":              rateBy("action"),
		"By prefix":                        rateBy("prefix"),
		"By input interface":               rateBy("indev"),
		"By protocol":                      rateBy("ip_proto"),
		"Top source addresses":             ranking("src"),
		"Top destination ports":            ranking("dport"),
		"Top source networks":              ranking("src_net"),
		"Top sources in the last interval": lastIntervalSources,
		"Packets lost":                     zeroStat,
		"Receive buffer overruns":          zeroStat,
		"Decode errors":                    zeroStat,
		"Packet metrics not emitted":       zeroStat,
		"Reader problems":                  zeroRates,
		"Receive buffer size":              readBuffer,
	},
}

func oneFrame(t *testing.T, frames []frame) frame {
	t.Helper()
	if len(frames) != 1 {
		t.Fatalf("%d queries, want 1", len(frames))
	}
	return frames[0]
}

// rateBy checks a packets-per-second panel grouped by tag: one series per
// value the traffic had, and the packets under each curve (rate × step,
// summed) are the traffic's. InfluxDB's rates are exact (per interval, the
// counters' increase over the interval). Prometheus's are not: with
// Grafana's $__rate_interval of four sample intervals, a window sees an
// increase only while both samples around it are inside it, three quarters
// of the time, and rate() extrapolates that to the window by up to a
// third; the area lies between about 0.75 and 1 times the packets, so the
// check allows 0.6 to 1.4. (A wrong metric, label or unit is off by far
// more: bytes are 60 times the packets here.)
func rateBy(tag string) panelCheck {
	return func(t *testing.T, e *dashEnv, src string, frames []frame) {
		f := oneFrame(t, frames)
		want := e.want.by[tag]
		got := map[string]float64{}
		for _, s := range f.series {
			v, ok := s.labels[tag]
			if !ok {
				t.Errorf("series %v has no %s", s.labels, tag)
				continue
			}
			area := 0.0
			for _, p := range s.points {
				area += p.v * f.step.Seconds()
			}
			got[v] += area
		}
		if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
			t.Fatalf("series by %s: %v, want %v", tag, got, want)
		}
		for v, n := range want {
			lo, hi := n-1e-6, n+1e-6
			if src == "prometheus" {
				lo, hi = 0.6*n, 1.4*n
			}
			if got[v] < lo || got[v] > hi {
				t.Errorf("%s=%s: %.3f packets under the curve, want %v (in [%.2f, %.2f])", tag, v, got[v], n, lo, hi)
			}
		}
		t.Logf("packets under the curves by %s: %v (sent %v)", tag, got, want)
	}
}

// ranking checks a top-N table: exactly the keys of the traffic with their
// packets over the range (fewer keys than N, and the summaries hold them
// all, so every count is exact).
func ranking(key string) panelCheck {
	return func(t *testing.T, e *dashEnv, _ string, frames []frame) {
		f := oneFrame(t, frames)
		got := map[string]float64{}
		for _, r := range f.rows {
			k, ok := r[key].(string)
			if !ok {
				t.Fatalf("row %v has no %s", r, key)
			}
			got[k] += rowValue(t, r, "packets")
		}
		if !maps.Equal(got, e.want.by[key]) {
			t.Fatalf("ranking %s shows %v, want %v", key, got, e.want.by[key])
		}
		top, n := "", 0.0
		for k, v := range got {
			if v > n {
				top, n = k, v
			}
		}
		t.Logf("top %s: %s with %v packets; all: %v", key, top, n, got)
	}
}

// rowValue is a table row's value column: "packets" (InfluxDB, named in
// the query) or "Value" (Prometheus, renamed by the panel).
func rowValue(t *testing.T, r map[string]any, name string) float64 {
	t.Helper()
	for _, c := range []string{name, "Value"} {
		switch v := r[c].(type) {
		case float64:
			return v
		case json.Number:
			x, err := v.Float64()
			if err == nil {
				return x
			}
		}
	}
	t.Fatalf("row %v has no number in %q or Value", r, name)
	return 0
}

// recentBlocks checks the table of recent blocks: one row per dropped
// packet of the range (fewer than its limit), with the packet's source,
// destination and port, newest first.
func recentBlocks(t *testing.T, e *dashEnv, _ string, frames []frame) {
	f := oneFrame(t, frames)
	type key struct{ src, dst, dport, proto, indev, prefix string }
	got, want := map[key]int{}, map[key]int{}
	for _, fs := range [][]flow{burst, last} {
		for _, fl := range fs {
			z := zones[fl.zone]
			if z.action != "drop" {
				continue
			}
			k := key{fl.src, fl.dst, strconv.Itoa(fl.dport), "udp", z.indev, z.prefix}
			if fl.dport == 0 {
				k.dport, k.proto = "", "icmp"
			}
			want[k] += fl.count
		}
	}
	str := func(v any) string {
		if v == nil {
			return ""
		}
		return fmt.Sprint(v)
	}
	for _, r := range f.rows {
		got[key{str(r["src"]), str(r["dst"]), str(r["dport"]), str(r["ip_proto"]), str(r["indev"]), str(r["prefix"])}]++
	}
	if !maps.Equal(got, want) {
		t.Fatalf("recent blocks:\n got  %v\n want %v", got, want)
	}
	if len(f.rows) == 0 || str(f.rows[0]["dport"]) != strconv.Itoa(last[0].dport) {
		t.Errorf("the newest row is %v, want one of the last packets (dport %d): newest first", f.rows[0], last[0].dport)
	}
}

// lastIntervalSources checks Prometheus's table of the last interval: the
// source ranking of the newest sample, as InfluxDB has it for that time.
func lastIntervalSources(t *testing.T, e *dashEnv, _ string, frames []frame) {
	f := oneFrame(t, frames)
	got := map[string]float64{}
	for _, r := range f.rows {
		got[fmt.Sprint(r["src"])] += rowValue(t, r, "packets")
	}
	ss, err := influxSeries(e.client, e.influxURL, "ns", fmt.Sprintf(
		`SELECT "packets" FROM "nflog_top" WHERE "ranking" = 'src' AND "src" <> 'other' AND time = %d GROUP BY "src"`, e.lastInterval))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{}
	for _, s := range ss {
		for _, v := range s.values {
			n, _ := v[1].(json.Number).Float64()
			want[s.tags["src"]] += n
		}
	}
	if len(want) == 0 || want[last[0].src] == 0 {
		t.Fatalf("InfluxDB's src ranking of the last interval is %v, want %s in it", want, last[0].src)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("last interval's sources: %v, want %v (InfluxDB's nflog_top at that time)", got, want)
	}
}

// zeroStat checks a health stat: one value, 0 (no value at all would be a
// broken query, not health).
func zeroStat(t *testing.T, e *dashEnv, _ string, frames []frame) {
	f := oneFrame(t, frames)
	if len(f.series) != 1 || len(f.series[0].points) != 1 || f.series[0].points[0].v != 0 {
		t.Fatalf("want one value 0, got:\n%s", f)
	}
}

// zeroRates checks the problem rates: a series for each statistic, all 0.
func zeroRates(t *testing.T, e *dashEnv, _ string, frames []frame) {
	n := 0
	for _, f := range frames {
		for _, s := range f.series {
			n++
			for _, p := range s.points {
				if p.v != 0 {
					t.Errorf("series %v is %v at %v, want 0", s.labels, p.v, p.t)
				}
			}
		}
	}
	if n != 4 {
		t.Errorf("%d series, want one per statistic (overruns, lost, decode errors, not emitted)", n)
	}
}

// readBuffer checks the buffer size: one reader, at least the default
// 8 MiB (forced with cap_net_admin above net.core.rmem_max).
func readBuffer(t *testing.T, e *dashEnv, _ string, frames []frame) {
	f := oneFrame(t, frames)
	if len(f.series) != 1 || len(f.series[0].points) == 0 {
		t.Fatalf("want one series (one reader), got:\n%s", f)
	}
	for _, p := range f.series[0].points {
		if p.v < 8<<20 {
			t.Errorf("read buffer %v bytes at %v, want at least 8 MiB", p.v, p.t)
		}
	}
}

// ---- Prometheus's own view ---------------------------------------------------------

// checkPromTypes checks the metric types Prometheus itself reports: every
// monotonic figure a counter, the others gauges.
func (e *dashEnv) checkPromTypes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md, err := e.prom.API.Metadata(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]v1.MetricType{
		"nflog_counters_packets_total":                 v1.MetricTypeCounter,
		"nflog_counters_bytes_total":                   v1.MetricTypeCounter,
		"nflog_stats_packets_received_total":           v1.MetricTypeCounter,
		"nflog_stats_overruns_total":                   v1.MetricTypeCounter,
		"nflog_stats_packets_lost_total":               v1.MetricTypeCounter,
		"nflog_stats_decode_errors_total":              v1.MetricTypeCounter,
		"nflog_stats_buffer_growths_total":             v1.MetricTypeCounter,
		"nflog_stats_counter_overflows_total":          v1.MetricTypeCounter,
		"nflog_stats_packet_metrics_not_emitted_total": v1.MetricTypeCounter,
		"nflog_stats_packets_truncated_total":          v1.MetricTypeCounter,
		"nflog_stats_packets_skipped_total":            v1.MetricTypeCounter,
		"nflog_stats_name_watch_failures_total":        v1.MetricTypeCounter,
		"nflog_stats_read_buffer_bytes":                v1.MetricTypeGauge,
		"nflog_top_packets":                            v1.MetricTypeGauge,
		"nflog_top_bytes":                              v1.MetricTypeGauge,
		"nflog_top_max_overcount":                      v1.MetricTypeGauge,
		"nflog_top_rank":                               v1.MetricTypeGauge,
	}
	for name, typ := range want {
		m := md[name]
		if len(m) == 0 || m[0].Type != typ {
			t.Errorf("Prometheus reports %s as %+v, want type %s", name, m, typ)
		}
	}
	for name := range md {
		if strings.HasPrefix(name, "nflog_") && want[name] == "" {
			t.Errorf("Prometheus has %s (%+v), which this test does not know", name, md[name])
		}
	}
}

// checkPromRules checks the shipped rules on the real server: all healthy,
// the recording rules see the traffic by action, and no problem alert is
// active.
func (e *dashEnv) checkPromRules(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rules v1.RulesResult
	waitFor(t, resultTimeout, "every rule evaluated once", func() (bool, string) {
		var err error
		rules, err = e.prom.API.Rules(ctx)
		if err != nil {
			return false, err.Error()
		}
		var state []string
		ok := len(rules.Groups) > 0
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				switch r := r.(type) {
				case v1.RecordingRule:
					state = append(state, fmt.Sprintf("%s: %s %s", r.Name, r.Health, r.LastError))
					ok = ok && r.Health == v1.RuleHealthGood
				case v1.AlertingRule:
					state = append(state, fmt.Sprintf("%s: %s %s %s", r.Name, r.Health, r.State, r.LastError))
					ok = ok && r.Health == v1.RuleHealthGood
				}
			}
		}
		return ok, strings.Join(state, "\n")
	})
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if a, ok := r.(v1.AlertingRule); ok && a.State != "inactive" {
				t.Errorf("alert %s is %s with the healthy set-up: %+v", a.Name, a.State, a.Alerts)
			}
		}
	}
	v, _, err := e.prom.API.Query(ctx, `action:nflog_counters_packets:rate5m`, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	if vec, ok := v.(model.Vector); ok {
		for _, s := range vec {
			got[string(s.Metric["action"])] = s.Value > 0
		}
	}
	if !got["drop"] || !got["accept"] {
		t.Errorf("action:nflog_counters_packets:rate5m = %v, want a rate for drop and for accept", v)
	}
}
