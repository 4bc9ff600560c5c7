//go:build linux

package nflog

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/parsers/influx"
	influxserializer "github.com/influxdata/telegraf/plugins/serializers/influx"
	"github.com/influxdata/telegraf/testutil"

	"github.com/nflogr/telegraf-nflog/nflog"
)

// update rewrites the golden files instead of comparing with them: the
// synthetic captures (TestSyntheticCaptures) and every case's expected.out
// (TestCases). Review the diff before committing it.
var update = flag.Bool("update", false, "rewrite testcases/*/input.pcap of the synthetic cases and testcases/*/expected.out")

// TestCases replays every folder of testcases/, as Telegraf's inputs.netflow
// and inputs.nftables test theirs (testcases/README.md): the folder's
// capture (one *.pcap or *.pcapng) through the plugin configured by its
// telegraf.conf, then one Gather at the end of the capture, as the execd
// binary does with -pcap. The metrics must be those of expected.out, in
// line protocol; the errors must contain, one each, the lines of
// expected.err. An Init error is compared with expected.err too.
//
// Times of packet metrics (measurement nflog) come from the capture and
// are compared; the metrics of Gather (nflog_counters, nflog_stats) carry
// the time of the Gather, which is ignored: expected.out writes them
// without one. Line protocol has no metric type (counter, gauge), so types
// are not compared; the unit tests check them.
func TestCases(t *testing.T) {
	folders, err := os.ReadDir("testcases")
	require.NoError(t, err)

	parser := &influx.Parser{}
	require.NoError(t, parser.Init())
	parser.SetTimeFunc(func() time.Time { return time.Time{} })

	ran := 0
	for _, f := range folders {
		if !f.IsDir() {
			continue
		}
		ran++
		dir := filepath.Join("testcases", f.Name())
		t.Run(f.Name(), func(t *testing.T) {
			var captures []string
			for _, pattern := range []string{"*.pcap", "*.pcapng"} {
				m, err := filepath.Glob(filepath.Join(dir, pattern))
				require.NoError(t, err)
				captures = append(captures, m...)
			}
			require.Len(t, captures, 1, "a case holds one capture, *.pcap or *.pcapng")

			expectedFile := filepath.Join(dir, "expected.out")
			var expected []telegraf.Metric
			if _, err := os.Stat(expectedFile); err == nil {
				expected, err = testutil.ParseMetricsFromFile(expectedFile, parser)
				require.NoError(t, err)
			}
			var expectedErrors []string
			if _, err := os.Stat(filepath.Join(dir, "expected.err")); err == nil {
				expectedErrors, err = testutil.ParseLinesFromFile(filepath.Join(dir, "expected.err"))
				require.NoError(t, err)
				require.NotEmpty(t, expectedErrors, "expected.err is empty: remove it")
			}
			if !*update {
				require.True(t, expected != nil || expectedErrors != nil, "the case has neither expected.out nor expected.err")
			}

			// Telegraf's loader never returns on some invalid files (README,
			// Known issues): a strict parser refuses them first.
			conf := filepath.Join(dir, "telegraf.conf")
			_, err := toml.DecodeFile(conf, new(map[string]any))
			require.NoError(t, err, "telegraf.conf is not valid TOML")
			cfg := config.NewConfig()
			require.NoError(t, cfg.LoadConfig(conf))
			require.Len(t, cfg.Inputs, 1, "telegraf.conf must hold one [[inputs.nflog]]")
			plugin, ok := cfg.Inputs[0].Input.(*NFLOG)
			require.True(t, ok, "telegraf.conf must hold one [[inputs.nflog]]")
			if plugin.Statistics != nil {
				t.Cleanup(plugin.Statistics.UnregisterAll)
			}
			plugin.ReplayFile(captures[0])

			if err := plugin.Init(); err != nil {
				require.NotEmpty(t, expectedErrors, "Init failed and the case has no expected.err: %v", err)
				for _, want := range expectedErrors {
					require.ErrorContains(t, err, want)
				}
				require.Empty(t, expected, "Init failed: no metric can match expected.out")
				return
			}

			var acc testutil.Accumulator
			require.NoError(t, plugin.Start(&acc))
			t.Cleanup(plugin.Stop)
			select {
			case <-plugin.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("the capture was not read to its end within 10s")
			}
			readErr := plugin.Err()
			if readErr != nil {
				// Also in acc.Errors, compared with expected.err below.
				require.NotEmpty(t, expectedErrors, "reading stopped and the case has no expected.err: %v", readErr)
			}
			require.Equal(t, readErr, plugin.Gather(&acc), "Gather returns the error that stopped reading")

			actual := acc.GetTelegrafMetrics()
			for _, m := range slices.Concat(actual, expected) {
				if m.Name() != measurementPackets {
					m.SetTime(time.Time{})
				}
			}
			if *update {
				writeExpected(t, expectedFile, actual)
				return
			}

			var gotErrors []string
			for _, err := range acc.Errors {
				gotErrors = append(gotErrors, err.Error())
			}
			slices.Sort(gotErrors)
			slices.Sort(expectedErrors)
			require.Len(t, gotErrors, len(expectedErrors), "errors: %q", gotErrors)
			for i, want := range expectedErrors {
				require.Contains(t, gotErrors[i], want)
			}
			testutil.RequireMetricsEqual(t, expected, actual, testutil.SortMetrics(), testutil.IgnoreType())
		})
	}
	require.NotZero(t, ran, "no case in testcases/")
}

// writeExpected writes metrics as expected.out: the packet metrics in the
// order the plugin made them, with their times, then the metrics of Gather
// sorted, without a time.
func writeExpected(t *testing.T, path string, metrics []telegraf.Metric) {
	t.Helper()
	s := &influxserializer.Serializer{SortFields: true}
	require.NoError(t, s.Init())
	var packets, gathered []string
	for _, m := range metrics {
		b, err := s.Serialize(m)
		require.NoError(t, err)
		line := strings.TrimSuffix(string(b), "\n")
		if m.Name() != measurementPackets {
			line = line[:strings.LastIndexByte(line, ' ')] // the zero time
			gathered = append(gathered, line)
			continue
		}
		packets = append(packets, line)
	}
	slices.Sort(gathered)
	var out bytes.Buffer
	for _, l := range slices.Concat(packets, gathered) {
		out.WriteString(l)
		out.WriteByte('\n')
	}
	require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
}

// syntheticCaptures are the captures of testcases/ built by hand from NFLOG
// messages (helpers_test.go) rather than recorded with tcpdump, by case.
func syntheticCaptures() map[string][]message {
	udpPacket := ipv4("192.0.2.1", "198.51.100.2", 17, 20+8+100, udp(40000, 53, 100))
	udpFrom := func(size int) attr {
		return payloadAttr(ipv4("192.0.2.1", "192.0.2.2", 17, 28+size, udp(1, 2, size)))
	}
	tiny := payloadAttr(ipv4("192.0.2.1", "192.0.2.2", 17, 28, udp(1, 2, 0)))
	in := func(prefix string, ts time.Time) message {
		return msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, 1), tsAttr(ts), tiny, prefixAttr(prefix))
	}
	headerAndPayload := msg(nflog.FamilyIPv4, 5, recorded,
		hdrAttr(0x0800, nflog.HookOutput),
		payloadAttr(udpPacket),
	)
	return map[string][]message{
		"every_attribute": {msg(nflog.FamilyIPv4, 5, recorded,
			hdrAttr(0x0800, nflog.HookForward),
			u32Attr(nflog.AttrMark, 42),
			tsAttr(t0),
			u32Attr(nflog.AttrInDev, 1),
			u32Attr(nflog.AttrOutDev, 999),
			u32Attr(nflog.AttrPhysInDev, 1),
			u32Attr(nflog.AttrPhysOutDev, 998),
			payloadAttr(udpPacket[:64]),
			prefixAttr("DROP:wan "),
			u32Attr(nflog.AttrUID, 1000),
			u32Attr(nflog.AttrSeq, 7),
			u32Attr(nflog.AttrGID, 100),
		)},
		"header_and_payload_only": {headerAndPayload},
		"top":                     rankingMessages(), // rankings_test.go
		"empty_prefix_and_uid_0": {msg(nflog.FamilyIPv4, 5, recorded,
			hdrAttr(0x0800, nflog.HookOutput),
			payloadAttr(udpPacket),
			prefixAttr(""),
			u32Attr(nflog.AttrUID, 0),
		)},
		"copy_mode_meta": {msg(nflog.FamilyIPv4, 5, recorded,
			hdrAttr(0x0800, nflog.HookInput),
			tsAttr(t0),
			u32Attr(nflog.AttrInDev, 1),
			prefixAttr("in"),
		)},
		"ip_header_cut_by_copy_range": {msg(nflog.FamilyIPv4, 5, recorded,
			hdrAttr(0x0800, nflog.HookOutput),
			payloadAttr(udpPacket[:12]),
		)},
		"icmpv6": {msg(nflog.FamilyIPv6, 5, recorded,
			hdrAttr(0x86dd, nflog.HookPrerouting),
			tsAttr(t0),
			payloadAttr(ipv6("2001:db8::1", "2001:db8::2", 58, 8+56, icmp(128, 0))),
			prefixAttr("ping6"),
		)},
		"prefix_not_matching_invalid_utf8": {msg(nflog.FamilyIPv4, 5, recorded,
			hdrAttr(0x0800, nflog.HookOutput),
			payloadAttr(udpPacket),
			prefixAttr("  odd\xff "),
		)},
		"prefix_optional_group_unmatched": {msg(nflog.FamilyIPv4, 5, recorded,
			hdrAttr(0x0800, nflog.HookOutput),
			payloadAttr(udpPacket),
			prefixAttr("ACCEPT"),
		)},
		"arp_family": {msg(nflog.FamilyARP, 5, recorded,
			hdrAttr(0x0806, 1),
			payloadAttr([]byte{0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 192, 0, 2, 2}),
		)},
		// Every integer field is an int64 (line protocol's i), whatever the
		// packet.
		"field_types": {
			msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, 3), payloadAttr(ipv4("192.0.2.1", "192.0.2.2", 17, 28, udp(1, 2, 0))), u32Attr(nflog.AttrSeq, 1)),
			msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, 3), payloadAttr(ipv4("192.0.2.1", "192.0.2.2", 1, 28, icmp(8, 0)))),
		},
		// Times unique per series (uniqueTimes); timestamp_us keeps the
		// kernel's.
		"unique_times": {
			in("a", t0), in("a", t0), in("b", t0), in("a", t0),
			in("a", t0.Add(time.Microsecond)), // after the bumped ones: kept
			in("a", t0),                       // reordered by less than maxReorder: bumped
			in("a", t0.Add(-time.Hour)),       // a clock step: kept
		},
		"counters": {
			msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, 3), udpFrom(10), prefixAttr("DROP:wan")),
			msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, 3), udpFrom(20), prefixAttr("DROP:wan")),
			msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, 3), udpFrom(30), prefixAttr("ACCEPT:lan")),
			msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, 3), udpFrom(0)),
		},
		"decode_error": {
			msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, 3), tiny),
			truncated(),
			msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, 3), tiny),
		},
		"invalid_prefix_pattern": {headerAndPayload},
	}
}

// TestSyntheticCaptures checks that the synthetic captures of testcases/ are
// what their messages in syntheticCaptures make, so that the Go source
// says what each holds; -update rewrites them.
func TestSyntheticCaptures(t *testing.T) {
	for name, msgs := range syntheticCaptures() {
		path := filepath.Join("testcases", name, "input.pcap")
		requireGoldenFile(t, path, capture(t, msgs...), "its messages in syntheticCaptures", "TestSyntheticCaptures")
	}
}

// requireGoldenFile checks that the committed file at path holds data, made
// from source by the test named test; with -update it writes data there.
func requireGoldenFile(t *testing.T, path string, data []byte, source, test string) {
	t.Helper()
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, data, 0o644))
		return
	}
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, got),
		"%s differs from %s: run go test -run %s -update and review the diff", path, source, test)
}
