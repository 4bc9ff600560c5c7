//go:build linux

package nflog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/metric"
	influxparser "github.com/influxdata/telegraf/plugins/parsers/influx"
	influxserializer "github.com/influxdata/telegraf/plugins/serializers/influx"
	jsonserializer "github.com/influxdata/telegraf/plugins/serializers/json"
	"github.com/influxdata/telegraf/testutil"

	"github.com/nflogr/telegraf-nflog/nflog"
)

// Hostile strings: a firewall's log prefix and the names of its interfaces
// are chosen by whoever writes the rules or creates the links, and reach
// the outputs as tag values. Whatever bytes they hold, every metric must
// come out as exactly one valid line of line protocol and one valid JSON
// object, which parse back to the same tag set: no extra tag, field or
// line can be injected, and both formats agree on every value.

// hostilePacket decodes one message as the kernel would send it, with the
// interface names set by hand (a capture carries only indexes).
func hostilePacket(t *testing.T, prefix []byte, indev, outdev string) nflog.Packet {
	t.Helper()
	attrs := []attr{
		hdrAttr(0x0800, nflog.HookForward),
		tsAttr(t0),
		u32Attr(nflog.AttrInDev, 4242),
		u32Attr(nflog.AttrOutDev, 4343),
		payloadAttr(ipv4("192.0.2.1", "198.51.100.2", 17, 20+8+4, udp(1000, 53, 4))),
		{nflog.AttrPrefix, append(append([]byte{}, prefix...), 0)},
	}
	data := capture(t, msg(nflog.FamilyIPv4, 5, recorded, attrs...))
	r, err := nflog.NewFileReader(bytes.NewReader(data), &nflog.FileConfig{DisableInterfaceNames: true})
	require.NoError(t, err)
	defer r.Close()
	p, err := r.Next(t.Context())
	require.NoError(t, err)
	p.InDevName, p.OutDevName = indev, outdev
	return p
}

// outputCodecs are the serializers of Telegraf's outputs and of the
// binary (-format json uses nanosecond timestamps), with the parser that
// reads line protocol back.
type outputCodecs struct {
	lp     *influxserializer.Serializer
	js     *jsonserializer.Serializer
	parser *influxparser.Parser
}

func newOutputCodecs(t testing.TB) *outputCodecs {
	c := &outputCodecs{
		lp:     &influxserializer.Serializer{},
		js:     &jsonserializer.Serializer{TimestampUnits: config.Duration(time.Nanosecond)},
		parser: &influxparser.Parser{},
	}
	require.NoError(t, c.lp.Init())
	require.NoError(t, c.js.Init())
	require.NoError(t, c.parser.Init())
	return c
}

// requireRoundTrip requires checkRoundTrip to pass.
func (c *outputCodecs) requireRoundTrip(t testing.TB, m telegraf.Metric) {
	t.Helper()
	require.NoError(t, c.checkRoundTrip(m))
}

// checkRoundTrip serializes m as line protocol and as JSON, parses both
// back and requires exactly one metric with m's name, tags, fields and
// time, each tag value fit for both formats.
func (c *outputCodecs) checkRoundTrip(m telegraf.Metric) error {
	for k, v := range m.Tags() {
		switch {
		case !utf8.ValidString(v):
			return fmt.Errorf("tag %s=%q is not UTF-8", k, v)
		case strings.ContainsFunc(v, unicode.IsControl):
			return fmt.Errorf("tag %s=%q holds a control character", k, v)
		case strings.HasSuffix(v, `\`):
			return fmt.Errorf("tag %s=%q ends in a backslash, which line protocol cannot carry", k, v)
		}
	}

	line, err := c.lp.Serialize(m)
	if err != nil {
		return err
	}
	switch {
	case !utf8.Valid(line):
		return fmt.Errorf("line protocol is not UTF-8: %q", line)
	case bytes.Count(line, []byte("\n")) != 1 || !bytes.HasSuffix(line, []byte("\n")):
		return fmt.Errorf("not exactly one line: %q", line)
	}
	parsed, err := c.parser.Parse(line)
	switch {
	case err != nil:
		return fmt.Errorf("parsing %q: %w", line, err)
	case len(parsed) != 1:
		return fmt.Errorf("%d metrics in %q", len(parsed), line)
	case parsed[0].Name() != m.Name(),
		!maps.Equal(parsed[0].Tags(), m.Tags()),
		!maps.Equal(parsed[0].Fields(), m.Fields()),
		!parsed[0].Time().Equal(m.Time()):
		return fmt.Errorf("line protocol changed the metric: %q parses as %v, not %v", line, parsed[0], m)
	}

	obj, err := c.js.Serialize(m)
	if err != nil {
		return err
	}
	if !json.Valid(obj) || bytes.Count(obj, []byte("\n")) != 1 {
		return fmt.Errorf("not one valid JSON line: %q", obj)
	}
	var got struct {
		Name      string                 `json:"name"`
		Tags      map[string]string      `json:"tags"`
		Fields    map[string]json.Number `json:"fields"`
		Timestamp int64                  `json:"timestamp"`
	}
	dec := json.NewDecoder(bytes.NewReader(obj))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		return fmt.Errorf("decoding %q: %w", obj, err)
	}
	fields := make(map[string]json.Number, len(m.FieldList()))
	for k, v := range m.Fields() {
		fields[k] = json.Number(strconv.FormatInt(v.(int64), 10))
	}
	tags := got.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	if got.Name != m.Name() || !maps.Equal(tags, m.Tags()) || !maps.Equal(got.Fields, fields) || got.Timestamp != m.Time().UnixNano() {
		return fmt.Errorf("JSON changed the metric: %q, not %v", obj, m)
	}
	return nil
}

func TestHostileStringsRoundTrip(t *testing.T) {
	const bad = "\uFFFD"
	tests := []struct {
		name, prefix, indev string
		// Expected tags; "" means the tag is absent.
		wantPrefix, wantIndev string
	}{
		{"line protocol syntax", `a,b=c "d"`, "v=,x", `a,b=c "d"`, "v=,x"},
		{"a forged line after a newline", "x\nnflog,prefix=forged len=1i 0", "lo", "x" + bad + "nflog,prefix=forged len=1i 0", "lo"},
		{"a trailing newline is trimmed", "DROP \n", "lo", "DROP", "lo"},
		{"tab, carriage return, form feed", "a\tb\rc\fd", "v\tx", "a" + bad + "b" + bad + "c" + bad + "d", "v" + bad + "x"},
		{"escape sequences", "\x1b[31mred\x7f", "v\x01", bad + "[31mred" + bad, "v" + bad},
		{"C1 control", "a\u0085b", "lo", "a" + bad + "b", "lo"},
		{"invalid UTF-8", "in\xffvalid\xc3", "v\xff", "in" + bad + "valid" + bad, "v" + bad},
		{"a trailing backslash", `x\`, `v\`, "x" + bad, "v" + bad},
		{"only a backslash", `\`, `\\`, bad, `\` + bad},
		{"backslash before a delimiter", `a\ b\,c\=d`, `v\,x`, `a\ b\,c\=d`, `v\,x`},
		{"quotes", `"'`, `v"q'`, `"'`, `v"q'`},
		{"unicode", "DROP:zone\u2028é", "eth0", "DROP:zone\u2028é", "eth0"},
		{"only spaces: no prefix tag", "   ", "lo", "", "lo"},
	}
	codecs := newOutputCodecs(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newPlugin(t, func(n *NFLOG) { n.PrefixPattern = `^(?P<action>[^:]*)` })
			require.NoError(t, n.Init())
			p := hostilePacket(t, []byte(tt.prefix), tt.indev, tt.indev)
			var acc testutil.Accumulator
			n.build.add(&acc, &p)
			ms := acc.GetTelegrafMetrics()
			require.Len(t, ms, 1)
			m := ms[0]
			for key, want := range map[string]string{"prefix": tt.wantPrefix, "indev": tt.wantIndev, "outdev": tt.wantIndev} {
				got, ok := m.GetTag(key)
				require.Equal(t, want != "", ok, "tag %s: %q", key, got)
				require.Equal(t, want, got, "tag %s", key)
			}
			codecs.requireRoundTrip(t, m)
		})
	}
}

// FuzzMetricOutput feeds arbitrary prefixes (as the kernel sends them,
// cut at the first NUL) and interface names through the plugin and both
// output formats.
func FuzzMetricOutput(f *testing.F) {
	for _, s := range [][2]string{
		{`a,b=c "d"` + "\n", "v=,x"},
		{"x\nnflog,prefix=forged len=1i 0", "lo"},
		{`x\`, `v\`},
		{"in\xffvalid", "v\xff"},
		{"\x1b[31m\t\r\f\x00hidden", "v\x01"},
		{`DROP:wan `, "eth0"},
	} {
		f.Add([]byte(s[0]), s[1], "^(?P<action>[^:]*):?(?P<zone>.*)")
	}
	codecs := newOutputCodecs(f)
	f.Fuzz(func(t *testing.T, prefix []byte, ifname string, pattern string) {
		n := newPlugin(t, func(n *NFLOG) { n.PrefixPattern = pattern })
		if n.Init() != nil {
			n = newPlugin(t, nil) // an invalid pattern: go on without one
			require.NoError(t, n.Init())
		}
		p := hostilePacket(t, prefix, ifname, ifname)
		var acc testutil.Accumulator
		n.build.add(&acc, &p)
		ms := acc.GetTelegrafMetrics()
		require.Len(t, ms, 1)
		codecs.requireRoundTrip(t, ms[0])
	})
}

func TestRoundTripDetectsInjection(t *testing.T) {
	// The checker must fail on what it is meant to catch, and pass the rest.
	codecs := newOutputCodecs(t)
	for _, v := range []string{"x\n", "x\ty", `x\`, "\xff", "x\u0085", `0 \"`, `a,\"b`, `a=\"`} {
		m := metric.New("nflog", map[string]string{"prefix": v}, map[string]any{"len": int64(1)}, time.Unix(0, 1))
		require.Error(t, codecs.checkRoundTrip(m), "%q", v)
	}
	m := metric.New("nflog", map[string]string{"prefix": `a,b=c "d" \x`}, map[string]any{"len": int64(1)}, time.Unix(0, 1))
	require.NoError(t, codecs.checkRoundTrip(m))
}

// Telegraf's parser reads `\"` as `"` in a tag value that holds an escape
// (a space, comma or equals sign): tagValue replaces that backslash, and
// only there, so the value parses back as the plugin made it.
func TestTagValueBackslashBeforeQuote(t *testing.T) {
	codecs := newOutputCodecs(t)
	for v, want := range map[string]string{
		`0 \"`:   "0 \uFFFD\"",
		`a,\"b`:  "a,\uFFFD\"b",
		`a=\"\"`: "a=\uFFFD\"\uFFFD\"",
		`a\"b`:   `a\"b`, // no escape in the value: the parser keeps it
		`a \b"`:  `a \b"`,
	} {
		got := tagValue(v)
		require.Equal(t, want, got, "%q", v)
		m := metric.New("nflog", map[string]string{"prefix": got}, map[string]any{"len": int64(1)}, time.Unix(0, 1))
		require.NoError(t, codecs.checkRoundTrip(m), "%q", v)
	}
}
