//go:build linux

package testutil

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// IptablesCounter returns the packet and byte counters of the rules in
// table/chain that carry the comment (added with "-m comment --comment
// COMMENT"), summed if several do. binary is "iptables" or "ip6tables".
// Comparing these kernel counters with what a reader received is the
// ground truth for "every packet was logged". It fails the test if no rule
// has the comment.
func IptablesCounter(tb testing.TB, ns *NetNS, binary, table, chain, comment string) (packets, bytes uint64) {
	tb.Helper()
	RequireTools(tb, binary)
	out := ns.Run(tb, binary, "-w", "-t", table, "-L", chain, "-n", "-v", "-x")
	marker := "/* " + comment + " */"
	found := false
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, marker) {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		p, err1 := strconv.ParseUint(f[0], 10, 64)
		b, err2 := strconv.ParseUint(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			tb.Fatalf("IptablesCounter: cannot parse counters in %q", line)
		}
		packets += p
		bytes += b
		found = true
	}
	if !found {
		tb.Fatalf("IptablesCounter: no rule with comment %q in %s -t %s -L %s:\n%s", comment, binary, table, chain, out)
	}
	return packets, bytes
}

// NftCounter returns the packets and bytes of the named nft counter object
// ("counter NAME {}" in the table, referenced from rules with
// `counter name "NAME"`), read with "nft -j list counter".
func NftCounter(tb testing.TB, ns *NetNS, family, table, name string) (packets, bytes uint64) {
	tb.Helper()
	RequireTools(tb, "nft")
	out := ns.Run(tb, "nft", "-j", "list", "counter", family, table, name)
	var doc struct {
		Nftables []struct {
			Counter *struct {
				Name    string `json:"name"`
				Packets uint64 `json:"packets"`
				Bytes   uint64 `json:"bytes"`
			} `json:"counter"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		tb.Fatalf("NftCounter: parsing nft -j output: %v\n%s", err, out)
	}
	for _, o := range doc.Nftables {
		if o.Counter != nil && o.Counter.Name == name {
			return o.Counter.Packets, o.Counter.Bytes
		}
	}
	tb.Fatalf("NftCounter: counter %s %s %s not found in:\n%s", family, table, name, out)
	return 0, 0
}
