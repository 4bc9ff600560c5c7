//go:build linux

package nflog

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/testutil"

	nftest "github.com/nflogr/telegraf-nflog/testutil"
)

// Hostile names from the real kernel: what the tools accept, found out on
// Linux 6.x with nftables 1.0 and iptables-nft 1.8:
//   - nft's native syntax takes any byte in a prefix but '"' (there is no
//     escape) and NUL, including tabs, control characters and invalid
//     UTF-8; its JSON syntax takes '"', '\\' and newlines too.
//   - iptables takes any byte but NUL and refuses a newline ("Newlines not
//     allowed in --log-prefix").
//   - "ip link" takes any interface name of 1-15 bytes without '/', ':' and
//     white space (dev_valid_name): '=', ',', '"', '\'', '\\', control
//     characters and invalid UTF-8 are legal.

const (
	// Ports of the three rules, one per way of writing a prefix.
	portNftJSON   = 9
	portNftNative = 10
	portIptables  = 11
)

var (
	hostileIfname1 = "v=,x"
	hostileIfname2 = "w\"'\\\x01\xff=,"

	prefixNftJSON   = "a,b=c \"d\"\nx=1 \\ e\\"
	prefixNftNative = "in\xffv,a=l\tid \x01"
	prefixIptables  = "q\"u'o=t,e\\ \x1b[0m\xfe"
)

func TestIntegrationHostileNamesAndPrefixes(t *testing.T) {
	integration(t)
	nftest.RequireTools(t, "nft", "iptables")
	a := nftest.NewNetNS(t)
	b := nftest.NewNetNS(t)
	a.AddVeth(t, b, hostileIfname1, "p1", "198.18.7.1/24", "198.18.7.2/24")
	a.AddVeth(t, b, hostileIfname2, "p2", "198.18.8.1/24", "198.18.8.2/24")
	require.Positive(t, nftest.LinkIndex(t, a, hostileIfname2), "ip link accepts the name")

	g := strconv.Itoa(testGroup)
	a.Nft(t, "table inet hostile {\n chain out {\n  type filter hook output priority 0;\n"+
		"  udp dport "+strconv.Itoa(portNftNative)+" log prefix \""+prefixNftNative+"\" group "+g+"\n }\n}\n")
	rule := `{"nftables":[{"add":{"rule":{"family":"inet","table":"hostile","chain":"out","expr":[` +
		`{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":` + strconv.Itoa(portNftJSON) + `}},` +
		`{"log":{"prefix":` + jsonString(t, prefixNftJSON) + `,"group":` + g + `}}]}}}]}`
	file := filepath.Join(t.TempDir(), "rule.json")
	require.NoError(t, os.WriteFile(file, []byte(rule), 0o600))
	a.Run(t, "nft", "-j", "-f", file)
	a.Iptables(t, "-A", "OUTPUT", "-p", "udp", "--dport", strconv.Itoa(portIptables), "-j", "NFLOG",
		"--nflog-group", g, "--nflog-prefix", prefixIptables)

	var acc testutil.Accumulator
	n := startInNamespace(t, a, &acc, nil)
	nftest.SendUDP(t, a, "198.18.7.2:"+strconv.Itoa(portNftJSON), []byte("x"), 1)
	nftest.SendUDP(t, a, "198.18.8.2:"+strconv.Itoa(portNftNative), []byte("x"), 1)
	nftest.SendUDP(t, a, "198.18.7.2:"+strconv.Itoa(portIptables), []byte("x"), 1)
	// Three datagrams, each logged by one rule: three metrics, and Stop
	// hands out whatever else was received (Len below would see it).
	require.Eventually(t, func() bool { return acc.NMetrics() >= 3 }, 10*time.Second, 10*time.Millisecond)
	n.Stop()
	require.Empty(t, acc.Errors)

	const bad = "\uFFFD"
	want := map[string]map[string]string{
		// Leading and trailing white space is trimmed; what line
		// protocol cannot carry becomes U+FFFD.
		`a,b=c "d"` + bad + `x=1 \ e` + bad:      {"outdev": hostileIfname1},
		"in" + bad + "v,a=l" + bad + "id " + bad: {"outdev": "w\"'\\" + bad + bad + "=,"},
		`q"u'o=t,e\ ` + bad + "[0m" + bad:        {"outdev": hostileIfname1},
	}
	codecs := newOutputCodecs(t)
	metrics := acc.GetTelegrafMetrics()
	require.Len(t, metrics, 3)
	for _, m := range metrics {
		prefix, _ := m.GetTag("prefix")
		w, ok := want[prefix]
		require.True(t, ok, "unexpected prefix %q", prefix)
		delete(want, prefix)
		require.Equal(t, map[string]string{"prefix": prefix, "outdev": w["outdev"], "proto": "ipv4", "uid": "0"}, m.Tags())
		codecs.requireRoundTrip(t, m)
	}
}

// TestIntegrationMaxSizePacket logs the largest IPv4 packet, 65535 bytes
// (a 65507-byte UDP datagram over loopback, whose MTU is 65536), with the
// copy range at every boundary: "len" is the packet's real length from
// its IP header whenever the header was copied, and the copied length
// otherwise; captured_len is what the kernel copied (0 means its maximum,
// 65531 = 0xffff - NLA_HDRLEN).
func TestIntegrationMaxSizePacket(t *testing.T) {
	integration(t)
	nftest.RequireTools(t, "iptables")
	ns := nftest.NewNetNS(t)
	ns.Iptables(t, "-A", "OUTPUT", "-o", "lo", "-p", "udp", "--dport", "9", "-j", "NFLOG", "--nflog-group", strconv.Itoa(testGroup))

	const datagram = 65535 - 20 - 8
	tests := []struct {
		copyRange         int64
		wantLen, captured int64
	}{
		{0, 65535, 65531},
		{1, 1, 1}, // the IP header is cut: len falls back to the copied length
		{20, 65535, 20},
		{65530, 65535, 65530},
		{65531, 65535, 65531},
	}
	for _, tt := range tests {
		t.Run("copy_range="+strconv.FormatInt(tt.copyRange, 10), func(t *testing.T) {
			var acc testutil.Accumulator
			n := startInNamespace(t, ns, &acc, func(n *NFLOG) {
				n.CopyRange = Size(tt.copyRange)
				n.ExtraFields = []string{"captured_len"}
			})
			nftest.SendUDP(t, ns, "127.0.0.1:9", make([]byte, datagram), 1)
			nftest.SendUDP(t, ns, "127.0.0.1:9", make([]byte, 100), 1)
			require.Eventually(t, func() bool { return acc.NMetrics() >= 2 }, 10*time.Second, 10*time.Millisecond)
			n.Stop()
			require.Empty(t, acc.Errors)
			require.Len(t, acc.Metrics, 2)
			big, small := acc.Metrics[0], acc.Metrics[1]
			require.Equal(t, tt.wantLen, big.Fields["len"])
			require.Equal(t, tt.captured, big.Fields["captured_len"])
			smallCaptured := min(128, tt.copyRange)
			if tt.copyRange == 0 {
				smallCaptured = 128
			}
			require.Equal(t, smallCaptured, small.Fields["captured_len"])
			if tt.copyRange >= 20 || tt.copyRange == 0 {
				require.Equal(t, int64(128), small.Fields["len"])
			}
			st := n.reader.Stats()
			require.Equal(t, uint64(2), st.Received)
			require.Zero(t, st.DecodeErrors+st.Lost+st.Overruns)
		})
	}

	n := newPlugin(t, func(n *NFLOG) { n.CopyRange = 65532 })
	require.ErrorContains(t, n.Init(), "copy_range")
}

// jsonString encodes s as a JSON string.
func jsonString(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	require.NoError(t, err)
	return string(b)
}
