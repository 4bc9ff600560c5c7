package dashboards

// Source is the kind of datasource a dashboard is made for.
type Source string

const (
	InfluxDB   Source = "influxdb"   // InfluxDB 1.x, InfluxQL
	Prometheus Source = "prometheus" // PromQL
)

// Sources lists the dashboards, in the order they are generated.
var Sources = []Source{InfluxDB, Prometheus}

// File is the name of the JSON file of the dashboard for src.
func (src Source) File() string { return "nflog-" + string(src) + ".json" }

type panelKind int

const (
	timeSeries panelKind = iota // values over time
	rankTable                   // a ranking, largest first
	listTable                   // rows as the query returns them
	singleStat                  // one number, red above zero
)

// target is one query of a panel, for one source.
type target struct {
	query  string // InfluxQL or PromQL
	legend string // Grafana alias (InfluxDB) or legendFormat (Prometheus)
	// instant makes a Prometheus query return one value per series (at the
	// end of the range) instead of a range; InfluxQL queries without
	// GROUP BY time() are one value already.
	instant bool
}

// panel is one panel of both dashboards, or of one when the other's
// targets are empty.
type panel struct {
	title, description string
	kind               panelKind
	unit               string
	// sortBy is the column a rankTable sorts by, descending.
	sortBy string
	// width in grid columns (of 24) and height in rows.
	width, height uint32
	influx, prom  []target
}

// row is a titled group of panels.
type row struct {
	title  string
	panels []panel
}

func counterRatePanel(title, by, description string) panel {
	return panel{
		title:       title,
		description: description,
		kind:        timeSeries,
		unit:        "pps",
		width:       12, height: 8,
		influx: []target{{query: influxCounterRate(by), legend: "$tag_" + by}},
		prom:   []target{{query: promCounterRate(by), legend: "{{" + by + "}}"}},
	}
}

func rankingPanel(title, ranking, description string) panel {
	return panel{
		title:       title,
		description: description,
		kind:        rankTable,
		unit:        "short",
		sortBy:      "packets",
		width:       8, height: 9,
		influx: []target{{query: influxTop(ranking)}},
		prom:   []target{{query: promTop(ranking), instant: true}},
	}
}

func statPanel(title string, s statCounter, description string) panel {
	return panel{
		title:       title,
		description: description,
		kind:        singleStat,
		unit:        "short",
		width:       6, height: 4,
		influx: []target{{query: influxStatIncrease(s)}},
		prom:   []target{{query: promStatIncrease(s), instant: true}},
	}
}

// layout is both dashboards, row by row. The titles are the contract with
// the end-to-end test, which asserts each panel's numbers by title.
func layout() []row {
	var problemRates []target
	for _, s := range problemStats {
		problemRates = append(problemRates, target{query: promStatRate(s), legend: s.legend})
	}
	return []row{
		{title: "Logged packets", panels: []panel{
			counterRatePanel("Blocked vs. allowed", "action",
				"Packets per second logged by NFLOG rules, by the action in the rule's prefix "+
					"(\"DROP:wan\" is action drop), from the nflog_counters counters: is the firewall "+
					"blocking more than usual?"),
			counterRatePanel("By prefix", "prefix",
				"Packets per second by the rule's whole log prefix: which rule logs the most?"),
			counterRatePanel("By input interface", "indev",
				"Packets per second by the interface they came in on (no interface for packets "+
					"sent by this host): where does the traffic come from?"),
			counterRatePanel("By protocol", "ip_proto",
				"Packets per second by transport protocol (tcp, udp, icmp, ...)."),
		}},
		{title: "Top talkers over the time range", panels: []panel{
			rankingPanel("Top source addresses", "src",
				"The source addresses that logged the most packets over the dashboard's time range, "+
					"from the \"src\" ranking of nflog_top (packets of an address in the intervals "+
					"in which it was among the top 10): who is hitting the firewall?"),
			rankingPanel("Top destination ports", "dport",
				"The destination ports that logged the most packets, from the \"dport\" ranking "+
					"(\"none\" for packets without ports, such as ICMP): what are they after?"),
			rankingPanel("Top source networks", "src_net",
				"The source networks (/24 for IPv4, /64 for IPv6) that logged the most packets, "+
					"from the \"src_net\" ranking: which networks to block?"),
		}},
		{title: "Recent", panels: []panel{
			{
				title: "Recent blocked packets",
				description: "The last packets logged with action drop, from the per-packet " +
					"nflog metric with its src, dst and dport fields (thinned out when " +
					"packet_metrics_per_second is reached).",
				kind:  listTable,
				width: 24, height: 9,
				influx: []target{{query: influxRecentBlocks}},
			},
			{
				title: "Top sources in the last interval",
				description: "The \"src\" ranking of each reader's last interval: who is hitting " +
					"the firewall right now. Prometheus holds no per-packet metrics; use the " +
					"InfluxDB dashboard for single packets.",
				kind:   rankTable,
				unit:   "short",
				sortBy: "packets",
				width:  24, height: 9,
				prom: []target{{query: promLastIntervalSources, instant: true}},
			},
		}},
		{title: "Reader health", panels: []panel{
			statPanel("Packets lost", statLost,
				"Packets the kernel logged that never reached the reader, over the time range "+
					"(from the sequence numbers): should be 0."),
			statPanel("Receive buffer overruns", statOverruns,
				"Times the socket's receive buffer overflowed and the kernel dropped packets, "+
					"over the time range: should be 0."),
			statPanel("Decode errors", statDecodeErrs,
				"Messages from the kernel that could not be decoded, over the time range: should be 0."),
			statPanel("Packet metrics not emitted", statNotEmitted,
				"Per-packet metrics left out by packet_metrics_per_second over the time range; "+
					"the counters and rankings still count those packets."),
			{
				title:       "Reader problems",
				description: "Overruns, lost packets, decode errors and packet metrics not emitted, per second.",
				kind:        timeSeries,
				unit:        "short",
				width:       12, height: 8,
				influx: []target{{query: influxStatRates()}},
				prom:   problemRates,
			},
			{
				title: "Receive buffer size",
				description: "The socket receive buffer the kernel granted each reader; it grows " +
					"on overruns up to max_read_buffer_size.",
				kind:  timeSeries,
				unit:  "bytes",
				width: 12, height: 8,
				influx: []target{{query: influxReadBuffer, legend: influxReadBufferAlias}},
				prom:   []target{{query: promReadBuffer, legend: promReadBufferLegend}},
			},
		}},
	}
}
