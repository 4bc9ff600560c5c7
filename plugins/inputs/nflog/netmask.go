//go:build linux

package nflog

import (
	"fmt"
	"net/netip"
)

// netMasks are the prefix lengths to which "src_net" and "dst_net" mask
// addresses.
type netMasks struct {
	v4, v6 int
}

// checkMasks validates an ipv4_mask and ipv6_mask pair; where names the
// table they come from in errors.
func checkMasks(v4, v6 int, where string) (netMasks, error) {
	if v4 < 0 || v4 > 32 {
		return netMasks{}, fmt.Errorf("invalid ipv4_mask %d%s: use 0 to 32, the bits of an IPv4 address kept in src_net and dst_net (24 for /24)", v4, where)
	}
	if v6 < 0 || v6 > 128 {
		return netMasks{}, fmt.Errorf("invalid ipv6_mask %d%s: use 0 to 128, the bits of an IPv6 address kept in src_net and dst_net (64 for /64)", v6, where)
	}
	return netMasks{v4, v6}, nil
}

// bits returns the prefix length for a's family.
func (m netMasks) bits(a netip.Addr) int {
	if a.Is4() {
		return m.v4
	}
	return m.v6
}

// mask returns a with the bits past its family's mask cleared. It does not
// allocate.
func (m netMasks) mask(a netip.Addr) netip.Addr {
	p, err := a.Prefix(m.bits(a))
	if err != nil { // an invalid address; the callers pass IP addresses only
		return a
	}
	return p.Addr()
}

// name formats a masked address as CIDR text, "10.1.2.0/24".
func (m netMasks) name(masked netip.Addr) string {
	return netip.PrefixFrom(masked, m.bits(masked)).String()
}

// netNames are the src_net and dst_net tags of packet and counter metrics:
// networks as CIDR text, cached so that packets of a network seen before
// make no string. The cache is bounded like the builder's others; a flood
// from more networks than it holds costs a string a packet, not memory.
type netNames struct {
	netMasks
	names map[netip.Addr]string // masked address -> CIDR text
}

func newNetNames(v4, v6 int) (*netNames, error) {
	m, err := checkMasks(v4, v6, "")
	if err != nil {
		return nil, err
	}
	return &netNames{netMasks: m, names: make(map[netip.Addr]string)}, nil
}

// of returns the CIDR text of a's network.
func (n *netNames) of(a netip.Addr) string {
	masked := n.mask(a)
	if s, ok := n.names[masked]; ok {
		return s
	}
	s := n.name(masked)
	if len(n.names) >= cacheLimit {
		clear(n.names)
	}
	n.names[masked] = s
	return s
}
