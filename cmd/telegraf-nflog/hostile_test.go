//go:build linux

package main

import (
	"bytes"
	bin "encoding/binary"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/nflogr/telegraf-nflog/nflog"
)

// Hostile log prefixes through the binary, in both output formats: each
// packet is exactly one line of line protocol and one JSON line, which
// parse back to the same tags, the expected ones.

// nflogMessage builds an NFLOG message as the kernel sends it: nfgenmsg,
// then attributes with host-order headers and big-endian values.
func nflogMessage(group uint16, attrs ...[]byte) []byte {
	b := []byte{byte(nflog.FamilyIPv4), 0, byte(group >> 8), byte(group)}
	for i := 0; i+1 < len(attrs); i += 2 {
		typ, val := attrs[i], attrs[i+1]
		hdr := make([]byte, 4)
		bin.NativeEndian.PutUint16(hdr, uint16(4+len(val)))
		copy(hdr[2:], typ)
		b = append(append(b, hdr...), val...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	return b
}

func attrType(a nflog.Attr) []byte { return bin.NativeEndian.AppendUint16(nil, uint16(a)) }

// hostileCapture writes a capture of one UDP packet per prefix, logged at
// INPUT on interface 1 (lo).
func hostileCapture(t *testing.T, prefixes []string) string {
	t.Helper()
	ip := make([]byte, 28)
	ip[0], ip[9] = 0x45, 17
	bin.BigEndian.PutUint16(ip[2:], 28)
	copy(ip[12:], []byte{192, 0, 2, 1, 192, 0, 2, 2})
	var buf bytes.Buffer
	w, err := nflog.NewPcapWriter(&buf)
	require.NoError(t, err)
	at := time.Date(2025, 11, 26, 12, 0, 0, 0, time.UTC)
	for i, prefix := range prefixes {
		raw := nflogMessage(5,
			attrType(nflog.AttrPacketHdr), []byte{0x08, 0x00, byte(nflog.HookInput), 0},
			attrType(nflog.AttrInDev), bin.BigEndian.AppendUint32(nil, 1),
			attrType(nflog.AttrPayload), ip,
			attrType(nflog.AttrPrefix), append([]byte(prefix), 0),
		)
		p := nflog.Packet{Raw: raw, Timestamp: at.Add(time.Duration(i) * time.Second)}
		require.NoError(t, w.WritePacket(&p))
	}
	require.NoError(t, w.Flush())
	path := filepath.Join(t.TempDir(), "hostile.pcap")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
	return path
}

// hostilePrefixes are prefixes as a rule may carry them, with the tag the
// binary must emit for each.
var hostilePrefixes = []struct{ prefix, tag string }{
	{`a,b=c "d"`, `a,b=c "d"`},
	{"x\nnflog,prefix=forged len=1i 0", "x\uFFFDnflog,prefix=forged len=1i 0"},
	{"tab\there\r", "tab\uFFFDhere"},
	{"\x1b[31mred\x7f", "\uFFFD[31mred\uFFFD"},
	{"in\xffvalid", "in\uFFFDvalid"},
	{`trailing\`, "trailing\uFFFD"},
	{`a\ b\,c\=d`, `a\ b\,c\=d`},
	{"{\"json\":true}", "{\"json\":true}"},
}

func TestBinaryHostilePrefixes(t *testing.T) {
	prefixes := make([]string, len(hostilePrefixes))
	for i, h := range hostilePrefixes {
		prefixes[i] = h.prefix
	}
	file := hostileCapture(t, prefixes)

	r := runBinary(t, nil, "-config", topSample, "-pcap", file)
	require.Equal(t, 0, r.code, r.stderr)
	require.True(t, utf8.ValidString(r.stdout))
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	require.Len(t, lines, len(prefixes)+1, "one line per packet and the statistics:\n%s", r.stdout)
	lp := parseLines(t, r.stdout)
	require.Len(t, lp, len(prefixes)+1)

	j := runBinary(t, nil, "-config", topSample, "-pcap", file, "-format", "json")
	require.Equal(t, 0, j.code, j.stderr)
	jsonLines := strings.Split(strings.TrimSuffix(j.stdout, "\n"), "\n")
	require.Len(t, jsonLines, len(prefixes)+1, "one JSON line per packet and the statistics:\n%s", j.stdout)

	for i, h := range hostilePrefixes {
		want := map[string]string{"prefix": h.tag, "indev": "lo", "proto": "ipv4"}
		require.Equal(t, "nflog", lp[i].Name())
		require.Equal(t, want, lp[i].Tags(), "line protocol: %q", lines[i])
		require.Len(t, lp[i].FieldList(), 3, "line protocol: %q", lines[i])

		var obj struct {
			Name      string            `json:"name"`
			Tags      map[string]string `json:"tags"`
			Fields    map[string]any    `json:"fields"`
			Timestamp int64             `json:"timestamp"`
		}
		dec := json.NewDecoder(strings.NewReader(jsonLines[i]))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&obj), "%q", jsonLines[i])
		require.Equal(t, "nflog", obj.Name)
		require.True(t, maps.Equal(want, obj.Tags), "JSON: %q", jsonLines[i])
		require.Len(t, obj.Fields, 3, "JSON: %q", jsonLines[i])
		require.Equal(t, lp[i].Time().UnixNano(), obj.Timestamp)
	}
}
