package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	promsdk "github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// DatasourceVariable is the name of the dashboards' datasource variable:
// every panel and query refers to "${datasource}", never to the uid of a
// datasource, so that the dashboards import into any Grafana.
const DatasourceVariable = "datasource"

// JSON returns the dashboard for src as it is committed: indented JSON
// ending in a newline.
func JSON(src Source) ([]byte, error) {
	d, err := build(src)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // keep PromQL's "<" and ">" readable
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("encoding the %s dashboard: %w", src, err)
	}
	return buf.Bytes(), nil
}

func build(src Source) (dashboard.Dashboard, error) {
	ds := common.DataSourceRef{Type: ptr(string(src)), Uid: ptr("${" + DatasourceVariable + "}")}
	title := map[Source]string{InfluxDB: "NFLOG firewall (InfluxDB)", Prometheus: "NFLOG firewall (Prometheus)"}[src]
	b := dashboard.NewDashboardBuilder(title).
		Uid("nflog-"+string(src)).
		Description("Packets logged by netfilter's NFLOG target, read by telegraf-nflog: "+
			"blocked and allowed traffic, top talkers and the reader's health. "+
			"Assumes the configuration in dashboards/telegraf.conf and dashboards/nflog.conf "+
			"of github.com/nflogr/telegraf-nflog.").
		Tags([]string{"nflog", "firewall", "telegraf"}).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Time("now-1h", "now").
		Refresh("30s").
		WithVariable(dashboard.NewDatasourceVariableBuilder(DatasourceVariable).
			Label("Data source").
			Type(string(src)))

	id := uint32(0)
	for _, r := range layout() {
		id++
		b.WithRow(dashboard.NewRowBuilder(r.title).Id(id))
		for _, p := range r.panels {
			targets := p.influx
			if src == Prometheus {
				targets = p.prom
			}
			if len(targets) == 0 {
				continue // a panel of the other dashboard only
			}
			id++
			b.WithPanel(panelBuilder(src, ds, id, p, targets))
		}
	}
	return b.Build()
}

// panelBuilder builds p with its targets for src.
func panelBuilder(src Source, ds common.DataSourceRef, id uint32, p panel, targets []target) cog.Builder[dashboard.Panel] {
	var queries []cog.Builder[variants.Dataquery]
	for i, t := range targets {
		queries = append(queries, queryBuilder(src, ds, refID(i), p.kind, t))
	}
	switch p.kind {
	case timeSeries:
		return timeseries.NewPanelBuilder().
			Id(id).Title(p.title).Description(p.description).
			Datasource(ds).Targets(queries).
			Span(p.width).Height(p.height).
			Unit(p.unit).Min(0).
			FillOpacity(10).
			Legend(common.NewVizLegendOptionsBuilder().
				DisplayMode(common.LegendDisplayModeTable).
				Placement(common.LegendPlacementBottom).
				ShowLegend(true).
				Calcs([]string{"mean", "max"})).
			Tooltip(common.NewVizTooltipOptionsBuilder().
				Mode(common.TooltipDisplayModeMulti).
				Sort(common.SortOrderDescending))
	case rankTable, listTable:
		tb := table.NewPanelBuilder().
			Id(id).Title(p.title).Description(p.description).
			Datasource(ds).Targets(queries).
			Span(p.width).Height(p.height).
			Transformations([]dashboard.DataTransformerConfig{organize()})
		if p.unit != "" {
			tb.Unit(p.unit)
		}
		if p.sortBy != "" {
			tb.SortBy([]cog.Builder[common.TableSortByFieldState]{
				common.NewTableSortByFieldStateBuilder().DisplayName(p.sortBy).Desc(true),
			})
		}
		return tb
	case singleStat:
		return stat.NewPanelBuilder().
			Id(id).Title(p.title).Description(p.description).
			Datasource(ds).Targets(queries).
			Span(p.width).Height(p.height).
			Unit(p.unit).
			Decimals(0).
			GraphMode(common.BigValueGraphModeNone).
			ColorMode(common.BigValueColorModeBackground).
			Orientation(common.VizOrientationAuto).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
			Thresholds(dashboard.NewThresholdsConfigBuilder().
				Mode(dashboard.ThresholdsModeAbsolute).
				Steps([]dashboard.Threshold{{Value: nil, Color: "green"}, {Value: ptr(1.0), Color: "red"}}))
	}
	panic(fmt.Sprintf("dashboards: panel %q has unknown kind %d", p.title, p.kind))
}

// queryBuilder makes t a query of src's datasource. Tables get their rows
// as a table (one row per series for Prometheus, the result's rows for
// InfluxDB).
func queryBuilder(src Source, ds common.DataSourceRef, ref string, kind panelKind, t target) cog.Builder[variants.Dataquery] {
	isTable := kind == rankTable || kind == listTable
	if src == InfluxDB {
		format := "time_series"
		if isTable {
			format = "table"
		}
		return &influxQueryBuilder{q: influxQuery{
			RefID: ref, Datasource: &ds, Query: t.query, RawQuery: true,
			ResultFormat: format, Alias: t.legend,
		}}
	}
	q := promsdk.NewDataqueryBuilder().
		RefId(ref).Datasource(ds).Expr(t.query).
		EditorMode(promsdk.QueryEditorModeCode)
	if t.legend != "" {
		q.LegendFormat(t.legend)
	}
	if t.instant {
		q.Instant()
	} else {
		q.Range()
	}
	if isTable {
		q.Format(promsdk.PromQueryFormatTable)
	}
	return q
}

// organize hides what a table need not show (the time of a sum over the
// range, the labels every row shares) and names the value column.
func organize() dashboard.DataTransformerConfig {
	return dashboard.DataTransformerConfig{
		Id: "organize",
		Options: map[string]any{
			"excludeByName": map[string]bool{"Time": true, "__name__": true, "job": true, "ranking": true},
			"renameByName":  map[string]string{"Value": "packets"},
		},
	}
}

func refID(i int) string { return string(rune('A' + i)) }

func ptr[T any](v T) *T { return &v }
