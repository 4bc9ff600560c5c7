package nflog

import (
	"encoding/binary"
	"net/netip"
)

// Layers is the network and transport view of a packet's payload, decoded
// without allocating. Fields that the payload does not reach (a copy range
// that cut the packet, a non-first fragment) stay zero.
type Layers struct {
	// EtherType of the network header that was parsed: 0x0800, 0x86dd or
	// 0x0806 (ARP, where Src and Dst are the sender and target addresses).
	EtherType uint16
	Src, Dst  netip.Addr
	// Protocol is the IP protocol of the transport header (after IPv6
	// extension headers).
	Protocol uint8
	// Length is the packet's real length at layer 3 from its IP header
	// (total length), right even when the payload was truncated by the copy
	// range. 0 for an IPv6 jumbogram.
	Length int
	TTL    uint8 // IPv4 TTL or IPv6 hop limit
	// Fragment is set for any fragment except the first one.
	Fragment bool

	HasPorts         bool // TCP, UDP, UDP-Lite, SCTP, DCCP
	SrcPort, DstPort uint16

	// HasTCPFlags: the copy range reached the TCP flags byte.
	HasTCPFlags bool
	TCPFlags    uint8 // FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, ...

	HasICMP            bool // ICMP or ICMPv6
	ICMPType, ICMPCode uint8

	// TransportOffset is where the transport header starts in Payload.
	TransportOffset int
}

// HasTransport reports whether Protocol is known.
func (l *Layers) HasTransport() bool {
	return l.EtherType == 0x0800 || l.EtherType == 0x86dd
}

// Layers decodes the payload's network and transport headers. It reports
// false when there is no payload or its network protocol is not IPv4, IPv6 or
// ARP.
func (p *Packet) Layers() (Layers, bool) {
	var l Layers
	b := p.networkHeader()
	if b == nil {
		return l, false
	}
	switch b[0] >> 4 {
	case 4:
		if p.HwProtocol == 0x86dd || !parseIPv4(b, &l) {
			return l, false
		}
	case 6:
		if p.HwProtocol == 0x0800 || !parseIPv6(b, &l) {
			return l, false
		}
	default:
		if p.HwProtocol == 0x0806 && parseARP(b, &l) {
			return l, true
		}
		return l, false
	}
	off := l.TransportOffset
	parseTransport(b[off:], &l)
	l.TransportOffset += len(p.Payload) - len(b)
	return l, true
}

// networkHeader returns the payload from its network header. Where the
// payload starts depends on the family and hook, not on its bytes (a MAC
// address can look like an IPv4 header): netdev egress and ARP output
// payloads start at the Ethernet header (seen on kernel 6.18), every other
// payload at the network header.
func (p *Packet) networkHeader() []byte {
	b := p.Payload
	if len(b) == 0 {
		return nil
	}
	if !(p.Family == FamilyNetdev || p.Family == FamilyARP) || p.Hook != 1 {
		return b
	}
	// Skip the Ethernet header, and one 802.1Q tag, when what follows is the
	// packet's EtherType; a device without a MAC header sends the packet as is.
	if len(b) > 14 && binary.BigEndian.Uint16(b[12:14]) == p.HwProtocol {
		return b[14:]
	}
	if len(b) > 18 && binary.BigEndian.Uint16(b[12:14]) == 0x8100 && binary.BigEndian.Uint16(b[16:18]) == p.HwProtocol {
		return b[18:]
	}
	return b
}

func parseIPv4(b []byte, l *Layers) bool {
	if len(b) < 20 {
		return false
	}
	ihl := int(b[0]&0xf) * 4
	if ihl < 20 || ihl > len(b) {
		return false
	}
	l.EtherType = 0x0800
	l.Length = int(binary.BigEndian.Uint16(b[2:4]))
	l.TTL = b[8]
	l.Protocol = b[9]
	l.Src = netip.AddrFrom4([4]byte(b[12:16]))
	l.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	l.Fragment = binary.BigEndian.Uint16(b[6:8])&0x1fff != 0
	l.TransportOffset = ihl
	return true
}

func parseIPv6(b []byte, l *Layers) bool {
	if len(b) < 40 {
		return false
	}
	l.EtherType = 0x86dd
	if pl := int(binary.BigEndian.Uint16(b[4:6])); pl != 0 {
		l.Length = pl + 40
	}
	l.TTL = b[7]
	l.Src = netip.AddrFrom16([16]byte(b[8:24]))
	l.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	next, off := b[6], 40
	// Walk extension headers to the transport protocol; stop at the copy range.
	for hops := 0; hops < 8; hops++ {
		switch next {
		case 0, 43, 60, 135, 139, 140: // hop-by-hop, routing, destination, mobility, HIP, shim6
			if off+8 > len(b) {
				l.Protocol = next
				l.TransportOffset = len(b)
				return true
			}
			next, off = b[off], off+(int(b[off+1])+1)*8
		case 44: // fragment
			if off+8 > len(b) {
				l.Protocol = next
				l.TransportOffset = len(b)
				return true
			}
			l.Fragment = binary.BigEndian.Uint16(b[off+2:off+4])&0xfff8 != 0
			next, off = b[off], off+8
		case 51: // AH: length in 4-byte units minus 2
			if off+8 > len(b) {
				l.Protocol = next
				l.TransportOffset = len(b)
				return true
			}
			next, off = b[off], off+(int(b[off+1])+2)*4
		default:
			l.Protocol = next
			l.TransportOffset = min(off, len(b))
			return true
		}
	}
	l.Protocol = next
	l.TransportOffset = min(off, len(b))
	return true
}

func parseTransport(b []byte, l *Layers) {
	if l.Fragment {
		return
	}
	switch l.Protocol {
	case 6: // TCP
		if len(b) >= 14 {
			l.HasTCPFlags, l.TCPFlags = true, b[13]
		}
		fallthrough
	case 17, 136, 132, 33: // UDP, UDP-Lite, SCTP, DCCP: ports come first
		if len(b) >= 4 {
			l.HasPorts = true
			l.SrcPort = binary.BigEndian.Uint16(b[0:2])
			l.DstPort = binary.BigEndian.Uint16(b[2:4])
		}
	case 1, 58: // ICMP, ICMPv6
		if len(b) >= 2 {
			l.HasICMP = true
			l.ICMPType, l.ICMPCode = b[0], b[1]
		}
	}
}

// parseARP reads an Ethernet/IPv4 ARP packet's sender and target addresses.
func parseARP(b []byte, l *Layers) bool {
	if len(b) < 28 || binary.BigEndian.Uint16(b[2:4]) != 0x0800 || b[4] != 6 || b[5] != 4 {
		return false
	}
	l.EtherType = 0x0806
	l.Length = 28
	l.Src = netip.AddrFrom4([4]byte(b[14:18]))
	l.Dst = netip.AddrFrom4([4]byte(b[24:28]))
	return true
}
