package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
)

// influxQuery is a target of Grafana's InfluxDB datasource in raw InfluxQL
// mode. The SDK ships no InfluxDB query type, so this is the minimal one its
// "custom query type" how-to describes, with the fields the datasource
// reads for a raw query.
type influxQuery struct {
	RefID      string                `json:"refId"`
	Datasource *common.DataSourceRef `json:"datasource,omitempty"`
	// Query is InfluxQL with Grafana's macros ($timeFilter, $__interval).
	Query string `json:"query"`
	// RawQuery makes Grafana run Query as written instead of building a
	// query from its visual editor.
	RawQuery bool `json:"rawQuery"`
	// ResultFormat is "time_series" or "table".
	ResultFormat string `json:"resultFormat"`
	// Alias names the series, e.g. "$tag_action".
	Alias string `json:"alias,omitempty"`
}

func (q influxQuery) ImplementsDataqueryVariant() {}
func (q influxQuery) DataqueryType() string       { return "influxdb" }
func (q influxQuery) Validate() error             { return nil }

func (q influxQuery) Equals(other variants.Dataquery) bool {
	o, ok := other.(influxQuery)
	if !ok {
		return false
	}
	sameDS := (q.Datasource == nil) == (o.Datasource == nil)
	if sameDS && q.Datasource != nil {
		sameDS = ptrEq(q.Datasource.Type, o.Datasource.Type) && ptrEq(q.Datasource.Uid, o.Datasource.Uid)
	}
	return sameDS && q.RefID == o.RefID && q.Query == o.Query && q.RawQuery == o.RawQuery &&
		q.ResultFormat == o.ResultFormat && q.Alias == o.Alias
}

func ptrEq(a, b *string) bool { return (a == nil && b == nil) || (a != nil && b != nil && *a == *b) }

// influxQueryBuilder hands an influxQuery to the SDK's panel builders.
type influxQueryBuilder struct{ q influxQuery }

var _ cog.Builder[variants.Dataquery] = (*influxQueryBuilder)(nil)

func (b *influxQueryBuilder) Build() (variants.Dataquery, error) { return b.q, nil }
