//go:build linux

package nflog

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/models"
	"github.com/influxdata/telegraf/plugins/inputs"
	"github.com/influxdata/telegraf/selfstat"
	"github.com/influxdata/telegraf/testutil"

	"github.com/nflogr/telegraf-nflog/nflog"
)

// FuzzConfig feeds arbitrary TOML through the decoding the execd binary
// does before anything else (BurntSushi's strict parser, each
// [[inputs.nflog]] table decoded into a plugin with its defaults) and the
// plugin's Init. Invariants: nothing panics; a configuration that Init
// accepts is within every limit of the library and the kernel (so that the
// only errors left for Start are those of the running system); a rejected
// one gets an error of one printable line, so that text from the file cannot
// forge log lines.
//
// It does not call Telegraf's config.LoadConfigData: that loader (v1.37.2)
// loops forever on some malformed files (an unterminated string at the end
// of the file, see TestTelegrafLoaderHangIsUpstream and the README's known
// issues), so a fuzzer running it turns CI red at random on a bug that is
// not ours. Telegraf's loader is still exercised on the well-formed seeds,
// which BurntSushi accepts: TestFuzzSeedsThroughTelegrafLoader. The input
// that found the loop is a seed here, and the binary's test
// TestConfigUpstreamLoaderHang checks that the binary refuses it at once.
func FuzzConfig(f *testing.F) {
	for _, seed := range fuzzConfigSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		plugins, err := decodeStrict(data)
		if err != nil {
			return // the binary refuses the file before the plugin sees it
		}
		for _, n := range plugins {
			t.Cleanup(n.Statistics.UnregisterAll)
			if err := n.Init(); err != nil {
				if msg := err.Error(); msg == "" || strings.ContainsFunc(msg, unicode.IsControl) {
					t.Fatalf("Init error is not one printable line: %q", msg)
				}
				continue
			}
			if err := checkInitialised(n); err != nil {
				t.Fatalf("Init accepted an invalid configuration: %v\n%+v", err, options(n))
			}
		}
	})
}

// fuzzConfigSeeds are FuzzConfig's seeds: the sample configuration and the
// corner cases of every option.
func fuzzConfigSeeds() [][]byte {
	seeds := [][]byte{testutil.DefaultSampleConfig(sampleConfig), []byte(sampleConfig)}
	for _, body := range []string{
		"groups = [0, 65535]\ncopy_range = 0\nsequence = \"global\"\nextra_fields = [\"seq\", \"seq_global\"]",
		"groups = [1]\ncopy_range = \"65531B\"\nread_buffer_size = \"1GiB\"\nmax_read_buffer_size = 0",
		"groups = [1]\ncopy_range = 65532",
		"groups = [1]\nnetlink_buffer_size = \"4KiB\"\nflush_timeout = \"42949672.95s\"\nqueue_threshold = 4294967295",
		"groups = [1]\nmetrics = \"both\"\nmax_counter_series = 1\nextra_tags = [\"family\", \"group\", \"hook\", \"physindev\", \"physoutdev\", \"gid\", \"ip_proto\"]",
		"groups = [1, 1]",
		"groups = [-1]\non_overrun = \"drop\"",
		"groups = [1]\nnetns = \"blue\"",
		"groups = [1]\nnetns = \"a\\nb\"",
		"groups = [1]\nprefix_pattern = '^(?P<action>[A-Z]+):(?P<zone>\\w+)'",
		"groups = [1]\nprefix_pattern = \"(?P<a>\\n\\u001b[31m\"",
		"groups = [1]\nprefix_pattern = \"(?P<a>x)[\\nE! forged\"",
		"groups = [1]\nprefix_pattern = '(?P<proto>x)'",
		"groups = [1]\ncopy_mode = \"meta\\r\\nE! forged\"",
		"groups = [1]\nread_buffer_size = \"9EiB\"",
		"groups = [1]\nflush_timeout = \"-1ns\"",
		"groups = [1]\ninterval = \"1s\"\nalias = \"x\"\ntags = {a = \"b\"}",
		"groups = [1]\nmetrics = \"top\"\n[[inputs.nflog.top]]\nname = \"src\"\nkey = [\"src\"]",
		"groups = [1]\nmetrics = \"packets, counters,top\"\nipv4_mask = 0\nipv6_mask = 128\npacket_metrics_per_second = 100000000\n" +
			"prefix_pattern = '^(?P<action>[A-Z]+)'\n[[inputs.nflog.top]]\nname = \"n\"\nkey = [\"src_net\", \"dst_net\", \"sport\", \"dport\", \"ip_proto\"]\n" +
			"size = 10000\nsummary_size = 10000\nipv4_mask = 32\nipv6_mask = 0\n[[inputs.nflog.top]]\nname = \"t\"\nkey = [\"action\", \"prefix\", \"hook\", \"group\"]\nby = \"bytes\"",
		"groups = [1]\nmetrics = \"top\"",
		"groups = [1]\nmetrics = \"counters\"\n[[inputs.nflog.top]]\nname = \"src\"\nkey = [\"src\"]",
		"groups = [1]\nmetrics = \"top\"\n[[inputs.nflog.top]]\nname = \"a\\nE! forged\"\nkey = [\"src\"]\nsize = 0",
		"groups = [1]\nmetrics = \"top,\"\npacket_metrics_per_second = -1\nipv4_mask = 33",
	} {
		seeds = append(seeds, []byte("[[inputs.nflog]]\n"+body+"\n"))
	}
	seeds = append(seeds,
		[]byte("[[inputs.nflog]]\ngroups = [1]\n[[inputs.nflog]]\ngroups = [2]\n"),
		[]byte("[agent]\ninterval = \"1s\"\n[[inputs.nflog]]\ngroups = [3]\n"),
		[]byte(upstreamLoaderHang),
	)
	return seeds
}

// upstreamLoaderHang is the input on which FuzzConfig, when it ran
// Telegraf's loader, found that loader looping: an unterminated multi-line
// string at the very end of the file. The loop is in Telegraf's comment
// stripper (config/envvar.go, trimmer): at the end of the input hasNQuotes
// steps back one byte although it read none, so the scan for the closing
// quotes of a """ string re-reads the file's last quote forever, growing
// its output. BurntSushi's parser, which the execd binary runs first,
// refuses the file at once.
const upstreamLoaderHang = "[[sflog]]\ngroups = [0, 65535]\nco \"\"\"\nextra_fields = [\"seq\", \"seq_global\""

// decodeStrict decodes every [[inputs.nflog]] table of data into a plugin
// made by the registered creator (so with the defaults Telegraf would
// give), with a logger and a statistics collector, as the execd binary's
// loader does; other tables are ignored.
func decodeStrict(data []byte) ([]*NFLOG, error) {
	var conf struct {
		Inputs map[string][]toml.Primitive `toml:"inputs"`
	}
	md, err := toml.Decode(string(data), &conf)
	if err != nil {
		return nil, err
	}
	var plugins []*NFLOG
	for _, table := range conf.Inputs["nflog"] {
		n := inputs.Inputs["nflog"]().(*NFLOG)
		if err := md.PrimitiveDecode(table, n); err != nil {
			return nil, err
		}
		n.Log = testutil.Logger{}
		n.Statistics = selfstat.NewCollector(map[string]string{"input": "nflog"})
		plugins = append(plugins, n)
	}
	return plugins, nil
}

// Telegraf's own loader still sees what the fuzzer starts from: every seed
// that the strict parser accepts loads through config.LoadConfigData and
// gives the same plugins, with the same Init outcome.
func TestFuzzSeedsThroughTelegrafLoader(t *testing.T) {
	compared := 0
	for i, seed := range fuzzConfigSeeds() {
		strict, err := decodeStrict(seed)
		if err != nil {
			continue
		}
		c := config.NewConfig()
		loadErr := c.LoadConfigData(seed, config.EmptySourcePath)
		for _, ri := range c.Inputs {
			t.Cleanup(func() { unregisterRunningInput(ri) })
		}
		if loadErr != nil {
			// Telegraf refuses more than the plugin does (unknown keys,
			// types it decodes differently); it must not accept less.
			continue
		}
		require.Len(t, c.Inputs, len(strict), "seed %d", i)
		for j, ri := range c.Inputs {
			n := ri.Input.(*NFLOG)
			want := strict[j]
			t.Cleanup(want.Statistics.UnregisterAll)
			wantErr, gotErr := want.Init(), n.Init()
			require.Equal(t, wantErr == nil, gotErr == nil, "seed %d: strict Init %v, Telegraf Init %v", i, wantErr, gotErr)
			compared++
		}
	}
	require.GreaterOrEqual(t, compared, 10, "too few seeds loaded through both loaders to compare them")
}

// unregisterRunningInput removes the statistics that Telegraf's loader
// registered for ri from selfstat's global registry.
func unregisterRunningInput(ri *models.RunningInput) {
	for _, s := range []selfstat.Stat{ri.MetricsGathered, ri.GatherTime, ri.GatherTimeouts, ri.StartupErrors} {
		s.Unregister()
	}
	tags := map[string]string{"_id": ri.Config.ID, "input": ri.Config.Name}
	if ri.Config.Alias != "" {
		tags["alias"] = ri.Config.Alias
	}
	selfstat.Unregister("gather", "errors", tags)
	if n, ok := ri.Input.(*NFLOG); ok && n.Statistics != nil {
		n.Statistics.UnregisterAll()
	}
}

// checkInitialised checks what Init promises about an accepted
// configuration, independently of how Init validates it.
func checkInitialised(n *NFLOG) error {
	cfg := n.cfg
	switch {
	case len(n.Groups) == 0:
		return fmt.Errorf("no group")
	case slices.ContainsFunc(n.Groups, func(g int) bool { return g < 0 || g > nflog.MaxGroup }):
		return fmt.Errorf("group out of range in %v", n.Groups)
	case len(slices.Compact(slices.Sorted(slices.Values(n.Groups)))) != len(n.Groups):
		return fmt.Errorf("group listed twice in %v", n.Groups)
	case cfg.CopyMode > nflog.CopyNone:
		return fmt.Errorf("copy mode %v", cfg.CopyMode)
	case cfg.CopyRange > nflog.MaxCopyRange || int64(cfg.CopyRange) != int64(n.CopyRange):
		return fmt.Errorf("copy range %d from %d", cfg.CopyRange, n.CopyRange)
	case cfg.FlushTimeout < 0 || cfg.FlushTimeout > nflog.MaxFlushTimeout:
		return fmt.Errorf("flush timeout %v", cfg.FlushTimeout)
	case cfg.ReadBufferSize < 0 || cfg.ReadBufferSize > nflog.MaxReadBufferSize:
		return fmt.Errorf("read buffer %d", cfg.ReadBufferSize)
	case cfg.MaxReadBufferSize < 0 || cfg.MaxReadBufferSize > nflog.MaxReadBufferSize ||
		cfg.MaxReadBufferSize != 0 && cfg.MaxReadBufferSize < cfg.ReadBufferSize:
		return fmt.Errorf("max read buffer %d (read buffer %d)", cfg.MaxReadBufferSize, cfg.ReadBufferSize)
	case cfg.NetlinkBufferSize != 0 && (cfg.NetlinkBufferSize < 4096 || cfg.NetlinkBufferSize > 131072):
		return fmt.Errorf("netlink buffer %d", cfg.NetlinkBufferSize)
	case cfg.OnOverrun > nflog.OverrunIgnore:
		return fmt.Errorf("overrun policy %v", cfg.OnOverrun)
	case cfg.Flags&^(nflog.FlagSequence|nflog.FlagGlobalSequence) != 0:
		return fmt.Errorf("flags %#x", cfg.Flags)
	case cfg.NetNS != 0:
		return fmt.Errorf("a namespace fd before Start")
	case (n.Netns == "") != (n.netnsPath == ""), n.netnsPath != "" && !filepath.IsAbs(n.netnsPath):
		return fmt.Errorf("netns %q -> %q", n.Netns, n.netnsPath)
	case n.build == nil || n.build.packets == nil && n.build.counters == nil && n.build.rankings == nil:
		return fmt.Errorf("no metric to build")
	case (n.build.rankings != nil) != (len(n.Top) > 0):
		return fmt.Errorf("%d ranking tables, rankings %v", len(n.Top), n.build.rankings != nil)
	case n.PacketMetricsPerSecond < 0 || n.PacketMetricsPerSecond > maxPacketMetricsPerSecond ||
		(n.PacketMetricsPerSecond == 0) != (n.build.limit == nil):
		return fmt.Errorf("packet_metrics_per_second %d", n.PacketMetricsPerSecond)
	case n.build.nets == nil || n.build.nets.v4 < 0 || n.build.nets.v4 > 32 || n.build.nets.v6 < 0 || n.build.nets.v6 > 128:
		return fmt.Errorf("masks %+v", n.build.nets)
	case n.build.counters != nil && (n.build.counters.limit < 1 || n.MaxCounterSeries < 1):
		return fmt.Errorf("counters without a bound")
	case time.Duration(n.FlushTimeout) != cfg.FlushTimeout:
		return fmt.Errorf("flush timeout %v became %v", n.FlushTimeout, cfg.FlushTimeout)
	}
	if r := n.build.rankings; r != nil {
		names := map[string]bool{}
		for _, rk := range r.list {
			m := rk.shape.masks
			var capacity int
			if rk.byValue != nil {
				capacity = rk.byValue.active.Capacity()
			} else {
				capacity = rk.byTags.active.Capacity()
			}
			switch {
			case rk.name == "" || names[rk.name] || strings.ContainsFunc(rk.name, unicode.IsControl):
				return fmt.Errorf("ranking name %q", rk.name)
			case rk.size < 1 || rk.size > maxRankingSize || capacity < rk.size || capacity > maxSummarySize:
				return fmt.Errorf("ranking %q: size %d, summary %d", rk.name, rk.size, capacity)
			case m.v4 < 0 || m.v4 > 32 || m.v6 < 0 || m.v6 > 128:
				return fmt.Errorf("ranking %q: masks %+v", rk.name, m)
			case len(rk.shape.parts) == 0 || len(rk.shape.tagNames) > maxKeyTags || (rk.byValue == nil) == (rk.byTags == nil):
				return fmt.Errorf("ranking %q: key %v", rk.name, rk.shape.names)
			}
			names[rk.name] = true
		}
	}
	if n.build.prefixRE != nil {
		for _, name := range n.build.prefixRE.SubexpNames() {
			if name != "" && reservedTag(name) {
				return fmt.Errorf("prefix_pattern group %q shadows a tag", name)
			}
		}
	}
	return nil
}
