package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nflogr/telegraf-nflog/nflog"
)

const topConf = `[[inputs.nflog]]
  groups = [5]
  metrics = "counters,top"
  prefix_pattern = '^(?P<dir>[a-z]+) (?P<what>\w+)'
  [[inputs.nflog.top]]
    name = "src"
    key = ["src"]
  [[inputs.nflog.top]]
    name = "src_net"
    key = ["src_net"]
    ipv4_mask = 8
  [[inputs.nflog.top]]
    name = "what_dport"
    key = ["what", "dport"]
    size = 3
    by = "bytes"
`

// countCapture counts the capture's packets and bytes per source address
// with the library, independently of the plugin.
func countCapture(t *testing.T, path string) (perSrc map[string][2]int64, packets, bytes int64) {
	t.Helper()
	r, err := nflog.OpenFile(path, nil)
	require.NoError(t, err)
	defer r.Close()
	perSrc = map[string][2]int64{}
	for {
		p, err := r.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		l, ok := p.Layers()
		length := int64(len(p.Payload))
		if ok && l.Length > 0 {
			length = int64(l.Length)
		}
		src := "none"
		if ok && l.HasTransport() {
			src = l.Src.String()
		}
		c := perSrc[src]
		perSrc[src] = [2]int64{c[0] + 1, c[1] + length}
		packets++
		bytes += length
	}
	return perSrc, packets, bytes
}

// A replay through the binary ends with the last interval's rankings:
// every ranking adds up to the packets and bytes of the file, which the
// counters and packets_received count too, and with few sources the source
// ranking is the file's exact count. The same in JSON.
func TestBinaryReplayRankings(t *testing.T) {
	if _, err := os.Stat(shippedPcap); err != nil {
		t.Skipf("no capture: %v", err)
	}
	conf := filepath.Join(t.TempDir(), "plugin.conf")
	require.NoError(t, os.WriteFile(conf, []byte(topConf), 0o600))
	perSrc, packets, bytes := countCapture(t, shippedPcap)
	require.NotZero(t, packets)

	for _, format := range []string{"influx", "json"} {
		t.Run(format, func(t *testing.T) {
			// -poll-interval 0: the only Gather is the one at the end.
			r := runBinary(t, strings.NewReader(""), "-config", conf, "-pcap", shippedPcap, "-poll-interval", "0", "-format", format)
			require.Equal(t, 0, r.code, r.stderr)
			requireLevelLines(t, r.stderr)

			type point struct {
				name   string
				tags   map[string]string
				fields map[string]int64
				time   int64
			}
			var points []point
			if format == "influx" {
				for _, m := range parseLines(t, r.stdout) {
					p := point{name: m.Name(), tags: m.Tags(), fields: map[string]int64{}, time: m.Time().UnixNano()}
					for k, v := range m.Fields() {
						p.fields[k] = v.(int64)
					}
					points = append(points, p)
				}
			} else {
				for line := range strings.Lines(r.stdout) {
					var obj struct {
						Name      string            `json:"name"`
						Tags      map[string]string `json:"tags"`
						Fields    map[string]int64  `json:"fields"`
						Timestamp int64             `json:"timestamp"`
					}
					require.NoError(t, json.Unmarshal([]byte(line), &obj), line)
					points = append(points, point{obj.Name, obj.Tags, obj.Fields, obj.Timestamp})
				}
			}

			topPackets, topBytes := map[string]int64{}, map[string]int64{}
			gotSrc := map[string][2]int64{}
			var counterPackets, counterBytes, received int64
			var topTime int64
			for _, p := range points {
				switch p.name {
				case "nflog_top":
					rk := p.tags["ranking"]
					topPackets[rk] += p.fields["packets"]
					topBytes[rk] += p.fields["bytes"]
					require.Contains(t, p.fields, "max_overcount")
					require.Contains(t, p.fields, "rank")
					if topTime == 0 {
						topTime = p.time
					}
					require.Equal(t, topTime, p.time, "one time for the interval's points")
					if rk == "src" && p.tags["src"] != "other" {
						gotSrc[p.tags["src"]] = [2]int64{p.fields["packets"], p.fields["bytes"]}
					}
					if rk == "src_net" && p.tags["src_net"] != "other" && p.tags["src_net"] != "none" {
						require.True(t, strings.HasSuffix(p.tags["src_net"], "/8") || strings.HasSuffix(p.tags["src_net"], "/64"), p.tags)
					}
					if rk == "what_dport" {
						require.Contains(t, p.tags, "what")
						require.Contains(t, p.tags, "dport")
					}
				case "nflog_counters":
					counterPackets += p.fields["packets_total"]
					counterBytes += p.fields["bytes_total"]
				case "nflog_stats":
					if v, ok := p.fields["packets_received_total"]; ok {
						received = v
					}
				default:
					t.Fatalf("unexpected metric %v", p)
				}
			}
			require.Equal(t, "nflog_stats", points[len(points)-1].name, "the statistics come last")
			require.Equal(t, packets, received)
			require.Equal(t, packets, counterPackets)
			require.Equal(t, bytes, counterBytes)
			require.Len(t, topPackets, 3)
			for _, rk := range []string{"src", "src_net", "what_dport"} {
				require.Equal(t, packets, topPackets[rk], rk)
				require.Equal(t, bytes, topBytes[rk], rk)
			}
			require.LessOrEqual(t, len(perSrc), 10, "the capture has few sources")
			require.Equal(t, perSrc, gotSrc, "exact with few sources")
		})
	}
}

// The binary's strict loader takes the ranking tables and refuses unknown
// keys in them.
func TestBinaryRankingTables(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.conf")
	require.NoError(t, os.WriteFile(good, []byte(topConf), 0o600))
	in, err := loadPlugin(good)
	require.NoError(t, err)
	require.NotNil(t, in)

	bad := filepath.Join(dir, "bad.conf")
	require.NoError(t, os.WriteFile(bad, []byte(strings.Replace(topConf, "size = 3", "sise = 3", 1)), 0o600))
	_, err = loadPlugin(bad)
	require.ErrorContains(t, err, strconv.Quote("top.sise"))
}
