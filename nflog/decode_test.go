package nflog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// TestDecodeEveryAttribute decodes a message carrying every attribute the
// kernel can send, including those this machine's kernel only sends in
// configurations a namespace test cannot make (conntrack NAT tuples).
func TestDecodeEveryAttribute(t *testing.T) {
	ct := nested(uint16(AttrConntrack),
		nested(ctaTupleOrig,
			nested(ctaTupleIP, attr(ctaIPv4Src, 10, 0, 0, 1), attr(ctaIPv4Dst, 10, 0, 0, 2)),
			nested(ctaTupleProto, attr(ctaProtoNum, 6), attrBE16(ctaProtoSrc, 40000), attrBE16(ctaProtoDst, 443)),
			attrBE16(ctaTupleZone, 3),
		),
		nested(ctaTupleReply,
			nested(ctaTupleIP, attr(ctaIPv6Src, netip.MustParseAddr("2001:db8::2").AsSlice()...), attr(ctaIPv6Dst, netip.MustParseAddr("2001:db8::1").AsSlice()...)),
			nested(ctaTupleProto, attr(ctaProtoNum, 58), attrBE16(ctaICMPv6ID, 7), attr(ctaICMPv6Type, 129), attr(ctaICMPv6Code, 0)),
		),
		attrBE32(ctaStatus, uint32(StatusConfirmed|StatusAssured)),
		attrBE32(ctaMark, 0xbeef),
		attrBE32(ctaID, 123456),
		attrBE32(ctaTimeout, 30),
		attrBE32(ctaUse, 2),
		attrBE16(ctaZone, 9),
		attr(ctaLabels, 1, 2, 3, 4),
		attr(99, 1, 2), // unknown conntrack attribute: skipped
	)
	ts := make([]byte, 16)
	binary.BigEndian.PutUint64(ts, 1700000000)
	binary.BigEndian.PutUint64(ts[8:], 123456)
	b := body(FamilyBridge, 513,
		attr(uint16(AttrPacketHdr), 0x08, 0x00, byte(HookForward), 0),
		attrBE32(uint16(AttrMark), 0x2a),
		attr(uint16(AttrTimestamp), ts...),
		attrBE32(uint16(AttrInDev), 2), attrBE32(uint16(AttrOutDev), 3),
		attrBE32(uint16(AttrPhysInDev), 4), attrBE32(uint16(AttrPhysOutDev), 5),
		attr(uint16(AttrHwAddr), 0, 6, 0, 0, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0, 0),
		attr(uint16(AttrPayload), 0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2),
		attr(uint16(AttrPrefix), 'D', 'R', 'O', 'P', 0),
		attrBE32(uint16(AttrUID), 0), // uid 0 is a real uid
		attrBE32(uint16(AttrGID), 100),
		attrBE32(uint16(AttrSeq), 7), attrBE32(uint16(AttrSeqGlobal), 8),
		attrBE16(uint16(AttrHwType), 1), attrBE16(uint16(AttrHwLen), 14),
		attr(uint16(AttrHwHeader), make([]byte, 14)...),
		ct,
		attrBE32(uint16(AttrConntrackInfo), uint32(CTEstablishedReply)),
		nested(uint16(AttrVLAN), attrBE16(1, 0x8100), attrBE16(2, 0xa02a)), // prio 5, id 42
		attr(uint16(AttrL2Header), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x81, 0x00),
		attr(77|nlaFNetByteorder, 0xde, 0xad), // unknown packet attribute: kept
	)
	var d decoder
	var p Packet
	require.NoError(t, d.decode(b, false, time.Time{}, &p))

	require.Equal(t, FamilyBridge, p.Family)
	require.Equal(t, uint16(513), p.Group)
	require.Equal(t, uint16(0x0800), p.HwProtocol)
	require.Equal(t, HookForward, p.Hook)
	require.Equal(t, uint32(0x2a), p.Mark)
	require.True(t, p.Has(AttrTimestamp))
	require.Equal(t, time.Unix(1700000000, 123456000), p.Timestamp)
	require.Equal(t, [4]uint32{2, 3, 4, 5}, [4]uint32{p.InDev, p.OutDev, p.PhysInDev, p.PhysOutDev})
	require.Equal(t, []byte{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}, p.HwAddr)
	require.Equal(t, "DROP", p.Prefix)
	require.True(t, p.Has(AttrUID))
	require.Equal(t, uint32(0), p.UID)
	require.Equal(t, uint32(100), p.GID)
	require.Equal(t, uint32(7), p.Seq)
	require.Equal(t, uint32(8), p.GlobalSeq)
	require.Equal(t, uint16(1), p.HwType)
	require.Equal(t, uint16(14), p.HwLen)
	require.Len(t, p.HwHeader, 14)
	require.Equal(t, CTEstablishedReply, p.ConntrackInfo)
	require.Equal(t, Tuple{
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"),
		Protocol: 6, SrcPort: 40000, DstPort: 443, Zone: 3,
	}, p.Conntrack.Original)
	require.Equal(t, Tuple{
		Src: netip.MustParseAddr("2001:db8::2"), Dst: netip.MustParseAddr("2001:db8::1"),
		Protocol: 58, ICMPID: 7, ICMPType: 129,
	}, p.Conntrack.Reply)
	require.Equal(t, StatusConfirmed|StatusAssured, p.Conntrack.Status)
	require.Equal(t, uint32(0xbeef), p.Conntrack.Mark)
	require.Equal(t, uint32(123456), p.Conntrack.ID)
	require.Equal(t, uint16(9), p.Conntrack.Zone)
	require.Equal(t, []byte{1, 2, 3, 4}, p.Conntrack.Labels)
	// VLAN values are big-endian on the wire: a native-endian read gives 0x0081.
	require.Equal(t, VLAN{Proto: 0x8100, TCI: 0xa02a}, p.VLAN)
	require.Equal(t, uint16(42), p.VLAN.ID())
	require.Equal(t, uint8(5), p.VLAN.Priority())
	require.Len(t, p.L2Header, 14)
	require.Equal(t, []RawAttribute{{Type: 77, Data: []byte{0xde, 0xad}}}, p.Unknown)
	for a := AttrPacketHdr; a <= attrMax; a++ {
		require.True(t, p.Has(a), "attribute %s", a)
	}
	l, ok := p.Layers()
	require.True(t, ok)
	require.Equal(t, netip.MustParseAddr("10.0.0.1"), l.Src)
	require.Equal(t, 20, l.Length)
}

// TestDecodeMalformed feeds messages the kernel never sends. Each must give
// an error wrapping ErrMalformed, not a panic and not a silent success.
func TestDecodeMalformed(t *testing.T) {
	good := udpPacketBody(1, "x", 0)
	cases := map[string][]byte{
		"empty":                     {},
		"short nfgenmsg":            {2, 0, 0},
		"attribute header cut":      append(body(FamilyIPv4, 1), 8, 0),
		"length below header":       append(body(FamilyIPv4, 1), 2, 0, 1, 0),
		"length past end":           append(body(FamilyIPv4, 1), 200, 0, 1, 0, 0, 0, 0, 0),
		"packet header too short":   body(FamilyIPv4, 1, attr(uint16(AttrPacketHdr), 8)),
		"mark too short":            body(FamilyIPv4, 1, attr(uint16(AttrMark), 1, 2)),
		"timestamp too short":       body(FamilyIPv4, 1, attr(uint16(AttrTimestamp), 1, 2, 3, 4)),
		"timestamp usec overflow":   body(FamilyIPv4, 1, attr(uint16(AttrTimestamp), 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0x0f, 0x42, 0x40)),
		"indev empty":               body(FamilyIPv4, 1, attr(uint16(AttrInDev))),
		"hwaddr too short":          body(FamilyIPv4, 1, attr(uint16(AttrHwAddr), 0, 6)),
		"hwaddr length overflow":    body(FamilyIPv4, 1, attr(uint16(AttrHwAddr), 0, 200, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8)),
		"uid too short":             body(FamilyIPv4, 1, attr(uint16(AttrUID), 1)),
		"hwtype too short":          body(FamilyIPv4, 1, attr(uint16(AttrHwType), 1)),
		"ct nested garbage":         body(FamilyIPv4, 1, attr(uint16(AttrConntrack)|nlaFNested, 0xff, 0xff, 1, 0)),
		"ct tuple ip short":         body(FamilyIPv4, 1, nested(uint16(AttrConntrack), nested(ctaTupleOrig, nested(ctaTupleIP, attr(ctaIPv4Src, 1, 2))))),
		"ct tuple v6 short":         body(FamilyIPv4, 1, nested(uint16(AttrConntrack), nested(ctaTupleReply, nested(ctaTupleIP, attr(ctaIPv6Dst, 1, 2, 3, 4))))),
		"ct proto num empty":        body(FamilyIPv4, 1, nested(uint16(AttrConntrack), nested(ctaTupleOrig, nested(ctaTupleProto, attr(ctaProtoNum))))),
		"ct status short":           body(FamilyIPv4, 1, nested(uint16(AttrConntrack), attr(ctaStatus, 1))),
		"vlan tci short":            body(FamilyBridge, 1, nested(uint16(AttrVLAN), attr(2, 1))),
		"trailing garbage":          append(append([]byte(nil), good...), 1, 2),
		"ct info short":             body(FamilyIPv4, 1, attr(uint16(AttrConntrackInfo), 1, 2, 3)),
		"ct tuple proto port short": body(FamilyIPv4, 1, nested(uint16(AttrConntrack), nested(ctaTupleOrig, nested(ctaTupleProto, attr(ctaProtoSrc, 1))))),
	}
	var d decoder
	var p Packet
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			err := d.decode(b, false, time.Time{}, &p)
			require.ErrorIs(t, err, ErrMalformed)
		})
	}
}

func TestDecodePrefixes(t *testing.T) {
	cases := []struct {
		name string
		raw  []byte
		want string
	}{
		{"empty, as the kernel sends a rule without prefix", []byte{0}, ""},
		{"no NUL", []byte("abc"), "abc"},
		{"spaces", []byte("a b  c\x00"), "a b  c"},
		{"utf-8", []byte("DROP é ✓\x00"), "DROP é ✓"},
		{"invalid utf-8 kept byte-exact", []byte("x\xff\xfe\x00"), "x\xff\xfe"},
		{"cut at the first NUL", []byte("ab\x00cd\x00"), "ab"},
		{"127 bytes", append([]byte(strings.Repeat("p", 127)), 0), strings.Repeat("p", 127)},
	}
	var d decoder
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p Packet
			require.NoError(t, d.decode(body(FamilyIPv4, 1, attr(uint16(AttrPrefix), c.raw...)), false, time.Time{}, &p))
			require.True(t, p.Has(AttrPrefix))
			require.Equal(t, c.want, p.Prefix)
		})
	}
}

// TestPrefixInterning: equal prefixes share one string, so decoding them
// does not allocate, and the string survives reuse of the receive buffer.
func TestPrefixInterning(t *testing.T) {
	var d decoder
	buf := udpPacketBody(1, "ACCEPT:lan", 0)
	var p Packet
	require.NoError(t, d.decode(buf, false, time.Time{}, &p))
	kept := p.Prefix
	for i := range buf {
		buf[i] = 0xff // the receive buffer is reused for the next datagram
	}
	require.Equal(t, "ACCEPT:lan", kept)
	fresh := udpPacketBody(1, "ACCEPT:lan", 0)
	allocs := testing.AllocsPerRun(100, func() { d.decode(fresh, false, time.Time{}, &p) })
	require.Zero(t, allocs)
}

func TestTimestampFallback(t *testing.T) {
	var d decoder
	var p Packet
	recv := time.Unix(1700000001, 5000)
	require.NoError(t, d.decode(udpPacketBody(1, "", 0), false, recv, &p))
	require.False(t, p.Has(AttrTimestamp), "OUTPUT packets carry no kernel timestamp")
	require.Equal(t, recv, p.Timestamp)
}

func TestClone(t *testing.T) {
	var d decoder
	raw := udpPacketBody(1, "pfx", 3)
	var p Packet
	require.NoError(t, d.decode(raw, false, time.Time{}, &p))
	c := p.Clone()
	for i := range raw {
		raw[i] = 0
	}
	require.Equal(t, byte(0x45), c.Payload[0])
	require.Equal(t, "pfx", c.Prefix)
	require.Equal(t, uint32(3), c.Seq)
	l, ok := c.Layers()
	require.True(t, ok)
	require.Equal(t, uint16(9), l.DstPort)
	require.Equal(t, 1, int(testing.AllocsPerRun(50, func() { _ = p.Clone() })), "Clone makes one allocation")
}

func TestMapAndJSON(t *testing.T) {
	var d decoder
	var p Packet
	require.NoError(t, d.decode(udpPacketBody(9, "bad\xff\"quote\n", 1), false, time.Unix(1700000000, 0), &p))
	m := p.Map()
	require.Equal(t, uint16(9), m["group"])
	require.Equal(t, "output", m["hook"])
	require.Equal(t, "ipv4", m["proto_name"])
	require.Equal(t, "udp", m["ip_proto"])
	require.Equal(t, uint16(9), m["dport"])
	require.Equal(t, 31, m["length"])
	require.NotContains(t, m, "uid", "absent attributes are absent from the map")
	j, err := json.Marshal(p)
	require.NoError(t, err)
	require.True(t, utf8.Valid(j))
	var back map[string]any
	require.NoError(t, json.Unmarshal(j, &back))
	require.Equal(t, "bad\ufffd\"quote\n", back["prefix"])
	require.Equal(t, "127.0.0.1", back["src"])
}

func TestLayers(t *testing.T) {
	ipv6udp := append([]byte{0x60, 0, 0, 0, 0, 12, 17, 64}, append(netip.MustParseAddr("fe80::1").AsSlice(), netip.MustParseAddr("ff02::1").AsSlice()...)...)
	ipv6udp = append(ipv6udp, 0x02, 0x22, 0x02, 0x23, 0, 12, 0, 0, 1, 2, 3, 4)
	// IPv6 with a hop-by-hop header (8 bytes) then ICMPv6.
	ipv6hbh := append([]byte{0x60, 0, 0, 0, 0, 12, 0, 1}, make([]byte, 32)...)
	ipv6hbh = append(ipv6hbh, 58, 0, 0, 0, 0, 0, 0, 0, 135, 0, 0, 0)
	eth := func(et uint16, b []byte) []byte {
		h := append(make([]byte, 12), byte(et>>8), byte(et))
		return append(h, b...)
	}
	tcp := []byte{0x45, 0, 0x05, 0xdc, 0, 0, 0, 0, 64, 6, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2, 0x30, 0x39, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x12}
	frag := []byte{0x45, 0, 0, 40, 0, 0, 0, 10, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2, 1, 2, 3, 4}
	arp := []byte{0, 1, 8, 0, 6, 4, 0, 1, 1, 2, 3, 4, 5, 6, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2}
	cases := []struct {
		name string
		p    Packet
		want Layers
		ok   bool
	}{
		{"ipv6 udp", Packet{Family: FamilyIPv6, HwProtocol: 0x86dd, Payload: ipv6udp},
			Layers{EtherType: 0x86dd, Src: netip.MustParseAddr("fe80::1"), Dst: netip.MustParseAddr("ff02::1"), Protocol: 17, Length: 52, TTL: 64, HasPorts: true, SrcPort: 546, DstPort: 547, TransportOffset: 40}, true},
		{"ipv6 hop-by-hop icmpv6", Packet{Family: FamilyIPv6, HwProtocol: 0x86dd, Payload: ipv6hbh},
			Layers{EtherType: 0x86dd, Src: netip.IPv6Unspecified(), Dst: netip.IPv6Unspecified(), Protocol: 58, Length: 52, TTL: 1, HasICMP: true, ICMPType: 135, TransportOffset: 48}, true},
		{"tcp cut by copy range: real length from the header", Packet{Family: FamilyIPv4, HwProtocol: 0x0800, Payload: tcp},
			Layers{EtherType: 0x0800, Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"), Protocol: 6, Length: 1500, TTL: 64, HasPorts: true, SrcPort: 12345, DstPort: 80, HasTCPFlags: true, TCPFlags: 0x12, TransportOffset: 20}, true},
		{"non-first fragment has no ports", Packet{Family: FamilyIPv4, HwProtocol: 0x0800, Payload: frag},
			Layers{EtherType: 0x0800, Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"), Protocol: 17, Length: 40, TTL: 64, Fragment: true, TransportOffset: 20}, true},
		{"netdev egress: payload from the ethernet header", Packet{Family: FamilyNetdev, Hook: 1, HwProtocol: 0x0800, Payload: eth(0x0800, tcp)},
			Layers{EtherType: 0x0800, Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"), Protocol: 6, Length: 1500, TTL: 64, HasPorts: true, SrcPort: 12345, DstPort: 80, HasTCPFlags: true, TCPFlags: 0x12, TransportOffset: 34}, true},
		{"arp output: payload from the ethernet header", Packet{Family: FamilyARP, Hook: 1, HwProtocol: 0x0806, Payload: eth(0x0806, arp)},
			Layers{EtherType: 0x0806, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Length: 28}, true},
		{"arp input: payload from the arp header", Packet{Family: FamilyARP, HwProtocol: 0x0806, Payload: arp},
			Layers{EtherType: 0x0806, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Length: 28}, true},
		{"no payload", Packet{Family: FamilyIPv4, HwProtocol: 0x0800}, Layers{}, false},
		{"garbage", Packet{Family: FamilyIPv4, HwProtocol: 0x0800, Payload: []byte{0x45, 1}}, Layers{}, false},
		{"version mismatch", Packet{Family: FamilyIPv4, HwProtocol: 0x86dd, Payload: tcp}, Layers{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := c.p.Layers()
			require.Equal(t, c.ok, ok)
			if ok {
				require.Equal(t, c.want, got)
			}
		})
	}
}

func TestNames(t *testing.T) {
	require.Equal(t, "ipv4", EtherTypeName(0x0800))
	require.Equal(t, "0x88b5", EtherTypeName(0x88b5))
	require.Equal(t, "icmpv6", IPProtocolName(58))
	require.Equal(t, "253", IPProtocolName(253))
	require.Equal(t, "egress", HookName(FamilyNetdev, 1))
	require.Equal(t, "forward", HookName(FamilyIPv4, HookForward))
	require.Equal(t, "hook9", Hook(9).String())
	require.Equal(t, "ct_info", AttrConntrackInfo.String())
	require.Equal(t, "attr99", Attr(99).String())
	require.Equal(t, "ifindex7", unknownInterface(7))
	require.Equal(t, "ifindex70000", unknownInterface(70000))
	require.True(t, errors.Is(&DecodeError{Err: ErrMalformed}, ErrMalformed))
}
