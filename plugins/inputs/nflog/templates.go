//go:build linux

package nflog

import (
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"
)

// templates holds, per shape of metric (tag set and which fields it has),
// a metric with those tags and fields, and makes each packet's metric as a
// Copy of it with the packet's values, or lends the template itself with
// them to a metricBorrower. Building every metric with AddTag
// and AddField cost 1.7-1.9 µs and 19 allocations a packet in BenchmarkAdd,
// mostly in growing the tag and field slices one by one; Copy sizes them
// once and skips the sorted insertion of the tags.
type templates struct {
	m    map[string]telegraf.Metric
	last lastHit[telegraf.Metric]
}

// metricBorrower is implemented by an accumulator that is done with a
// metric when AddMetric returns: it serializes the metric at once and keeps
// nothing of it (the telegraf-nflog binary's). The plugin then lends it the
// template itself, with the packet's values, rather than a copy: the copy
// (a heap object for each tag and field) was a quarter to a third of the
// binary's CPU under flood (make bench, pprof). Telegraf's agent keeps
// metrics and never implements it.
type metricBorrower interface {
	BorrowsMetrics() bool
}

// get returns the packet's metric: a copy of the template of its shape
// with the packet's field values, or, with borrow, the template itself,
// valid until the next call.
func (t *templates) get(key []byte, tags []tagPair, fields []fieldPair, borrow bool) telegraf.Metric {
	tm, ok := t.last.get(key)
	if !ok {
		tm = t.m[string(key)]
		if tm == nil {
			tm = metric.New(measurementPackets, nil, nil, time.Time{})
			for _, tg := range tags {
				tm.AddTag(tg.key, tg.value)
			}
			for _, f := range fields {
				tm.AddField(f.key, f.value)
			}
			if len(t.m) >= cacheLimit {
				clear(t.m)
			}
			t.m[string(key)] = tm
		}
		t.last.set(key, tm)
	}
	m := tm
	if !borrow {
		m = tm.Copy()
	}
	// The shape fixes the field keys and their order: only values differ.
	for i, f := range m.FieldList() {
		f.Value = fields[i].value
	}
	return m
}
