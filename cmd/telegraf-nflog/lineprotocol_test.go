package main

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"
	"github.com/influxdata/telegraf/plugins/serializers/influx"
	"github.com/stretchr/testify/require"
)

// compareWithTelegraf encodes each metric, in order (so that the header
// cache is used and invalidated), with the binary's encoder and with
// Telegraf's influx serializer, and requires the same bytes.
func compareWithTelegraf(t testing.TB, metrics []telegraf.Metric) {
	lp, err := newLineProtocol()
	require.NoError(t, err)
	ref := &influx.Serializer{}
	require.NoError(t, ref.Init())
	for i, m := range metrics {
		want, wantErr := ref.Serialize(m)
		got, gotErr := lp.appendMetric([]byte("previous line\n"), m)
		require.Equal(t, wantErr != nil, gotErr != nil, "metric %d (%v): errors %v and %v", i, m, wantErr, gotErr)
		require.Equal(t, "previous line\n"+string(want), string(got), "metric %d: %v", i, m)
	}
}

func TestLineProtocolMatchesTelegraf(t *testing.T) {
	t0 := time.Unix(1700000000, 123456789)
	m := func(name string, tags map[string]string, fields map[string]any) telegraf.Metric {
		return metric.New(name, tags, fields, t0)
	}
	// Field order is the metric's: one field each where a map would
	// shuffle them.
	metrics := []telegraf.Metric{
		m("nflog", map[string]string{"outdev": "lo", "proto": "ipv4", "uid": "0"}, map[string]any{"len": int64(92)}),
		m("nflog", map[string]string{"outdev": "lo", "proto": "ipv4", "uid": "0"}, map[string]any{"len": int64(93)}), // same series
		m("nflog", map[string]string{"outdev": "lo", "proto": "ipv4", "uid": "1"}, map[string]any{"len": int64(93)}), // a value changes
		m("nflog", map[string]string{"outdev": "lo", "proto": "ipv4"}, map[string]any{"len": int64(-1)}),             // one tag fewer
		m("nflog_stats", map[string]string{"outdev": "lo", "proto": "ipv4"}, map[string]any{"x": uint64(7)}),         // another name
		m("n", nil, map[string]any{"big": uint64(math.MaxUint64)}),
		m("n", nil, map[string]any{"f": 1.5}),
		m("n", nil, map[string]any{"f": 1e21}),
		m("n", nil, map[string]any{"f": math.NaN()}),
		m("n", nil, map[string]any{"f": math.Inf(-1)}),
		m("n", nil, map[string]any{"b": true}),
		m("n", nil, map[string]any{"s": "quote \" backslash \\ tab \t newline \n end\\"}),
		m("n", nil, map[string]any{"k,e y=": "v"}),
		m("n", nil, map[string]any{"": int64(1)}),
		m("n", nil, map[string]any{}),
		m("", nil, map[string]any{"x": int64(1)}),
		m("na me,\t\n\f\r=x", map[string]string{"k": "v"}, map[string]any{"x": int64(1)}),
		m("n", map[string]string{"a b,c=d\te\nf\fg\rh": "i j,k=l\tm\nn\fo\rp"}, map[string]any{"x": int64(1)}),
		m("n", map[string]string{"trailing\\": "v\\\\", "x": "\\"}, map[string]any{"x": int64(1)}),
		m("n", map[string]string{"empty": "", "": "v", "ok": "1"}, map[string]any{"x": int64(1)}),
		m("n", map[string]string{"t": "tab\\\t\\"}, map[string]any{"x": int64(1)}),
		m("n", map[string]string{"u": "ünï\uFFFDcode"}, map[string]any{"s": "\u00e9"}),
	}
	compareWithTelegraf(t, metrics)

	// Random metrics from an alphabet of what needs escaping, in runs of
	// the same series.
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "Z", "0", " ", ",", "=", "\\", "\"", "\t", "\n", "\f", "\r", "é", "\x00", "\xff"}
	str := func() string {
		var b []byte
		for range rng.IntN(6) {
			b = append(b, alphabet[rng.IntN(len(alphabet))]...)
		}
		return string(b)
	}
	values := []func() any{
		func() any { return rng.Int64() - rng.Int64() },
		func() any { return rng.Uint64() },
		func() any { return rng.NormFloat64() * 1e6 },
		func() any { return str() },
		func() any { return rng.IntN(2) == 0 },
	}
	var random []telegraf.Metric
	for len(random) < 5000 {
		tags := map[string]string{}
		for range rng.IntN(4) {
			tags[str()] = str()
		}
		name := str()
		for range 1 + rng.IntN(3) {
			mm := metric.New(name, tags, nil, time.Unix(0, rng.Int64()))
			for range rng.IntN(4) {
				mm.AddField(str(), values[rng.IntN(len(values))]())
			}
			random = append(random, mm)
		}
	}
	compareWithTelegraf(t, random)
}

// FuzzLineProtocol: whatever the names, tags and fields, the binary writes
// what Telegraf's serializer writes.
func FuzzLineProtocol(f *testing.F) {
	f.Add([]byte("nflog\x00outdev\x00lo\x00len\x00"), int64(92), 1.5)
	f.Add([]byte("a b\x00k=,\\\x00v\\\x00\"\\\x00"), int64(-1), math.Inf(1))
	f.Fuzz(func(t *testing.T, data []byte, i int64, fl float64) {
		parts := bytes.Split(data, []byte{0})
		name := string(parts[0])
		tags := map[string]string{}
		var kv []string
		for _, p := range parts[1:] {
			kv = append(kv, string(p))
		}
		for j := 0; j+1 < len(kv); j += 2 {
			tags[kv[j]] = kv[j+1]
		}
		m := metric.New(name, tags, nil, time.Unix(0, i))
		for j, k := range kv {
			switch j % 4 {
			case 0:
				m.AddField(k, i)
			case 1:
				m.AddField(k, k)
			case 2:
				m.AddField(k, fl)
			case 3:
				m.AddField(k, uint64(i))
			}
		}
		// Twice: the second time from the cached header.
		compareWithTelegraf(t, []telegraf.Metric{m, m, m.Copy()})
	})
}

// BenchmarkLineProtocol: a packet metric of the default shape, written by
// Telegraf's serializer (as the binary did) and by lineProtocol.
func BenchmarkLineProtocol(b *testing.B) {
	tags := map[string]string{"outdev": "lo", "proto": "ipv4", "uid": "0", "prefix": "DROP:wan"}
	m := metric.New("nflog", tags, nil, time.Unix(1700000000, 123456789))
	m.AddField("len", int64(92))
	m.AddField("mark", int64(0))
	m.AddField("timestamp_us", int64(1700000000123456))
	b.Run("telegraf", func(b *testing.B) {
		s := &influx.Serializer{}
		require.NoError(b, s.Init())
		var buf []byte
		b.ReportAllocs()
		for b.Loop() {
			out, err := s.Serialize(m)
			if err != nil {
				b.Fatal(err)
			}
			buf = append(buf[:0], out...)
		}
	})
	b.Run("lineProtocol", func(b *testing.B) {
		lp, err := newLineProtocol()
		require.NoError(b, err)
		var buf []byte
		b.ReportAllocs()
		for b.Loop() {
			if buf, err = lp.appendMetric(buf[:0], m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
