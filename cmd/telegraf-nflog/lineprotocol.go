package main

import (
	"math"
	"strconv"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/serializers/influx"
)

// lineProtocol writes metrics in influx line protocol, byte for byte as
// Telegraf's influx serializer does with its default settings (which the
// binary used before; TestLineProtocolMatchesTelegraf and
// FuzzLineProtocol compare the two). It is hand-written because, at a
// metric per logged packet, the serializer was a fifth of the binary's CPU
// (make bench, scenario a, perf): it escapes every tag of every metric
// again and copies each line out of its own buffer (BenchmarkLineProtocol:
// 770-1120 ns and an allocation a metric, against 280 ns and none here).
// Here the escaped "name,tags " header is kept while consecutive metrics
// have the same name and tags, as packets of one series do, and lines are
// appended to the caller's buffer. Metrics it would write differently (a
// field it cannot write, an empty name) go to Telegraf's serializer.
type lineProtocol struct {
	// fallback is Telegraf's serializer, for what appendMetric does not
	// write itself: the serializer drops (with a debug message) fields of
	// other types, NaN and infinite values and keys that escape to
	// nothing, and refuses metrics without a name or a field.
	fallback serializerEncoder

	header   []byte // escaped name and tags, with the trailing space
	hdrName  string
	hdrTags  []telegraf.Tag // copies: the metric's own may change later
	hdrValid bool
}

func newLineProtocol() (*lineProtocol, error) {
	s := &influx.Serializer{}
	if err := s.Init(); err != nil {
		return nil, err
	}
	return &lineProtocol{fallback: serializerEncoder{s}}, nil
}

// appendMetric appends m's line to dst.
func (lp *lineProtocol) appendMetric(dst []byte, m telegraf.Metric) ([]byte, error) {
	fields := m.FieldList()
	if m.Name() == "" || len(fields) == 0 {
		return lp.fallback.appendMetric(dst, m)
	}
	if !lp.sameSeries(m) {
		lp.buildHeader(m)
	}
	start := len(dst)
	dst = append(dst, lp.header...)
	for i, f := range fields {
		if f.Key == "" {
			return lp.fallback.appendMetric(dst[:start], m)
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendEscaped(dst, f.Key, &tagEscapes)
		dst = append(dst, '=')
		switch v := f.Value.(type) {
		case int64:
			dst = append(strconv.AppendInt(dst, v, 10), 'i')
		case uint64: // without uint support, as the serializer's default
			dst = append(strconv.AppendInt(dst, int64(min(v, math.MaxInt64)), 10), 'i')
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return lp.fallback.appendMetric(dst[:start], m)
			}
			dst = strconv.AppendFloat(dst, v, 'f', -1, 64)
		case string:
			dst = append(dst, '"')
			dst = appendEscaped(dst, v, &stringFieldEscapes)
			dst = append(dst, '"')
		case bool:
			dst = strconv.AppendBool(dst, v)
		default:
			return lp.fallback.appendMetric(dst[:start], m)
		}
	}
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, m.Time().UnixNano(), 10)
	return append(dst, '\n'), nil
}

// sameSeries reports whether the cached header is m's. The strings
// compared are mostly the very same (interned by the plugin), which
// compare cheaply.
func (lp *lineProtocol) sameSeries(m telegraf.Metric) bool {
	tags := m.TagList()
	if !lp.hdrValid || m.Name() != lp.hdrName || len(tags) != len(lp.hdrTags) {
		return false
	}
	for i, t := range tags {
		if t.Key != lp.hdrTags[i].Key || t.Value != lp.hdrTags[i].Value {
			return false
		}
	}
	return true
}

func (lp *lineProtocol) buildHeader(m telegraf.Metric) {
	h := appendEscaped(lp.header[:0], m.Name(), &nameEscapes)
	lp.hdrTags = lp.hdrTags[:0]
	for _, t := range m.TagList() {
		lp.hdrTags = append(lp.hdrTags, telegraf.Tag{Key: t.Key, Value: t.Value})
		// A key or value ending in a backslash cannot be written: the
		// serializer drops the backslashes, and the tag if nothing is left.
		key, value := trimBackslashes(t.Key), trimBackslashes(t.Value)
		if key == "" || value == "" {
			continue
		}
		h = append(h, ',')
		h = appendEscaped(h, key, &tagEscapes)
		h = append(h, '=')
		h = appendEscaped(h, value, &tagEscapes)
	}
	lp.header = append(h, ' ')
	lp.hdrName, lp.hdrValid = m.Name(), true
}

// trimBackslashes removes trailing backslashes. The serializer trims them
// after escaping, which is the same: escaping never ends in a backslash.
func trimBackslashes(s string) string {
	for len(s) > 0 && s[len(s)-1] == '\\' {
		s = s[:len(s)-1]
	}
	return s
}

// escapeTable maps each byte to its escape, or to "" when it stands as is.
type escapeTable [256]string

var nameEscapes, tagEscapes, stringFieldEscapes escapeTable

func init() {
	control := map[byte]string{'\t': `\t`, '\n': `\n`, '\f': `\f`, '\r': `\r`}
	for c, e := range control {
		nameEscapes[c], tagEscapes[c] = e, e
	}
	nameEscapes[','], nameEscapes[' '] = `\,`, `\ `
	tagEscapes[','], tagEscapes[' '], tagEscapes['='] = `\,`, `\ `, `\=`
	stringFieldEscapes['"'], stringFieldEscapes['\\'] = `\"`, `\\`
}

func appendEscaped(dst []byte, s string, table *escapeTable) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		if e := table[s[i]]; e != "" {
			dst = append(dst, s[start:i]...)
			dst = append(dst, e...)
			start = i + 1
		}
	}
	return append(dst, s[start:]...)
}
