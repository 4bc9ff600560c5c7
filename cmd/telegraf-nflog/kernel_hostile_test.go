//go:build linux

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	nftest "github.com/nflogr/telegraf-nflog/testutil"
)

// TestIntegrationBinaryHostileNames: a prefix with line protocol and JSON
// syntax, a newline and control characters (set through nft's JSON
// syntax, which takes them), logged on veths named "v=,x" and with a
// quote, a backslash, a control character and invalid UTF-8 (all legal
// for "ip link"), comes out of the binary as one line of line protocol or
// one JSON object per packet, with the same tags in both.
func TestIntegrationBinaryHostileNames(t *testing.T) {
	if testing.Short() {
		t.Skip("kernel test skipped in short mode")
	}
	nftest.RequireTools(t, "nft")
	a := nftest.NewNetNS(t)
	b := nftest.NewNetNS(t)
	const (
		if1    = "v=,x"
		if2    = "w\"\\\x01\xff"
		prefix = "a,b=c \"d\"\nx=1i 0\n{\"t\":1}\x01 \\"
	)
	a.AddVeth(t, b, if1, "p1", "198.18.7.1/24", "198.18.7.2/24")
	a.AddVeth(t, b, if2, "p2", "198.18.8.1/24", "198.18.8.2/24")
	a.Nft(t, "table inet hostile {\n chain out {\n  type filter hook output priority 0;\n }\n}\n")
	rule := `{"nftables":[{"add":{"rule":{"family":"inet","table":"hostile","chain":"out","expr":[` +
		`{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":9}},` +
		`{"log":{"prefix":` + jsonString(t, prefix) + `,"group":` + strconv.Itoa(testGroup) + `}}]}}}]}`
	file := filepath.Join(t.TempDir(), "rule.json")
	require.NoError(t, os.WriteFile(file, []byte(rule), 0o600))
	a.Run(t, "nft", "-j", "-f", file)
	conf := writeConf(t, a, "  flush_timeout = \"0s\"\n  queue_threshold = 1\n")

	const bad = "\uFFFD"
	wantPrefix := `a,b=c "d"` + bad + "x=1i 0" + bad + `{"t":1}` + bad + " " + bad
	want := []map[string]string{
		{"prefix": wantPrefix, "outdev": if1, "proto": "ipv4", "uid": "0"},
		{"prefix": wantPrefix, "outdev": `w"\` + bad + bad, "proto": "ipv4", "uid": "0"},
	}
	got := make(map[string][]map[string]string)
	for _, format := range []string{"influx", "json"} {
		r := startCommand(t, binary(t), "-config", conf, "-format", format, "-poll-interval-disabled")
		r.waitReading(t)
		nftest.SendUDP(t, a, "198.18.7.2:9", []byte("x"), 1)
		nftest.SendUDP(t, a, "198.18.8.2:9", []byte("x"), 1)
		var lines []string
		waitFor(t, r.stdout, 10*time.Second, func(l string) bool {
			lines = append(lines, l)
			return len(lines) == 2
		})
		for _, l := range lines {
			require.True(t, utf8.ValidString(l), "%q", l)
			var tags map[string]string
			if format == "influx" {
				ms := parseLines(t, l)
				require.Len(t, ms, 1, "%q", l)
				require.Equal(t, "nflog", ms[0].Name())
				require.Len(t, ms[0].FieldList(), 3, "%q", l)
				tags = ms[0].Tags()
			} else {
				var obj struct {
					Name      string            `json:"name"`
					Tags      map[string]string `json:"tags"`
					Fields    map[string]int64  `json:"fields"`
					Timestamp int64             `json:"timestamp"`
				}
				dec := json.NewDecoder(strings.NewReader(l))
				dec.DisallowUnknownFields()
				require.NoError(t, dec.Decode(&obj), "%q", l)
				require.Equal(t, "nflog", obj.Name)
				require.Len(t, obj.Fields, 3, "%q", l)
				tags = obj.Tags
			}
			got[format] = append(got[format], tags)
		}
		r.stop(t)
	}
	require.Equal(t, want, got["influx"])
	require.Equal(t, want, got["json"])
}

// jsonString encodes s as a JSON string.
func jsonString(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	require.NoError(t, err)
	return string(b)
}
