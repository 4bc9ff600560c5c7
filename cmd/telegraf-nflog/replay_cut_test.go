package main

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/influxdata/telegraf"
	"github.com/stretchr/testify/require"
)

// -pcap with captures as accidents and other tools leave them (the plugin's
// derived test cases, see plugins/inputs/nflog/derivedcaptures_test.go):
// what was read is written, what was not is counted and said, and a
// capture cut short makes the binary exit non-zero, as tcpdump does.

const derivedCases = "../../plugins/inputs/nflog/testcases/"

func statsOf(t *testing.T, metrics []telegraf.Metric) map[string]any {
	t.Helper()
	require.NotEmpty(t, metrics)
	last := metrics[len(metrics)-1]
	require.Equal(t, "nflog_stats", last.Name(), "the statistics come last")
	return last.Fields()
}

func countName(metrics []telegraf.Metric, name string) int {
	n := 0
	for _, m := range metrics {
		if m.Name() == name {
			n++
		}
	}
	return n
}

func TestBinaryReplayTruncatedCapture(t *testing.T) {
	r := runBinary(t, nil, "-config", topSample, "-pcap", derivedCases+"truncated_capture/input.pcap")
	require.Equal(t, 1, r.code, "a capture cut short is an error: %s", r.stderr)
	requireLevelLines(t, r.stderr)
	require.Equal(t, 2, strings.Count(r.stderr, "capture file is truncated"), "the plugin's error and the exit's reason, no more: %s", r.stderr)
	require.Contains(t, r.stderr, "record 7 at byte offset 980: capture file is truncated: the file ends 78 bytes into the record")
	require.Contains(t, r.stderr, "E! [inputs.nflog] Exiting after a read error")
	metrics := parseLines(t, r.stdout)
	require.Equal(t, 6, countName(metrics, "nflog"), "every complete record")
	require.Equal(t, int64(6), statsOf(t, metrics)["packets_received_total"])
}

func TestBinaryReplaySnaplenCut(t *testing.T) {
	r := runBinary(t, nil, "-config", topSample, "-pcap", derivedCases+"snaplen_cut/input.pcap")
	require.Equal(t, 0, r.code, r.stderr)
	metrics := parseLines(t, r.stdout)
	truncated := 0
	for _, m := range metrics {
		if v, ok := m.GetField("truncated"); ok && m.Name() == "nflog" {
			require.Equal(t, true, v)
			truncated++
		}
	}
	require.Equal(t, 7, countName(metrics, "nflog"), "no record dropped")
	require.Equal(t, 6, truncated, "the seventh fits in 100 bytes")
	st := statsOf(t, metrics)
	require.Equal(t, int64(6), st["packets_truncated_total"])
	require.Equal(t, int64(0), st["decode_errors_total"])
}

func TestBinaryReplayMixedInterfaces(t *testing.T) {
	f, err := os.Open(derivedCases + "mixed_interfaces/input.pcapng")
	require.NoError(t, err)
	defer f.Close()
	r := runBinary(t, f, "-config", topSample, "-pcap", "-")
	require.Equal(t, 0, r.code, r.stderr)
	requireLevelLines(t, r.stderr)
	said := 0
	for line := range strings.Lines(r.stderr) {
		if strings.Contains(line, "not NFLOG") {
			said++
		}
	}
	require.Equal(t, 1, said, "said once: %s", r.stderr)
	require.Contains(t, r.stderr, `E! [inputs.nflog] Error in plugin: reading NFLOG messages: nflog: /dev/stdin: record 2 at byte offset 356: packets of an interface that is not NFLOG are skipped: interface 1 ("lo")`)
	metrics := parseLines(t, r.stdout)
	require.Equal(t, 7, countName(metrics, "nflog"))
	st := statsOf(t, metrics)
	require.Equal(t, int64(7), st["packets_skipped_total"])
	require.Equal(t, int64(7), st["packets_received_total"])
}

func TestBinaryReplayRefusedFiles(t *testing.T) {
	whole, err := os.ReadFile(shippedPcap)
	require.NoError(t, err)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, err = w.Write(whole)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	dir := t.TempDir()
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"empty.pcap":  {nil, "the file is empty"},
		"lo.pcap.gz":  {gz.Bytes(), "the file is gzip-compressed: decompress it first"},
		"header.pcap": {whole[:20], "capture file is truncated: the file ends inside its 24-byte pcap file header, after 20 bytes"},
	} {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, c.data, 0o600))
		r := runBinary(t, nil, "-config", topSample, "-pcap", path)
		require.Equal(t, 1, r.code, "%s: %s", name, r.stderr)
		requireLevelLines(t, r.stderr)
		require.Contains(t, r.stderr, path+": "+c.want, name)
	}
}
