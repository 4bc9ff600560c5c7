package nflog

import (
	"fmt"
	"net/netip"
	"strconv"
)

// Conntrack attribute types from include/uapi/linux/netfilter/nfnetlink_conntrack.h.
const (
	ctaTupleOrig  = 1  // CTA_TUPLE_ORIG
	ctaTupleReply = 2  // CTA_TUPLE_REPLY
	ctaStatus     = 3  // CTA_STATUS
	ctaTimeout    = 7  // CTA_TIMEOUT
	ctaMark       = 8  // CTA_MARK
	ctaUse        = 11 // CTA_USE
	ctaID         = 12 // CTA_ID
	ctaZone       = 18 // CTA_ZONE
	ctaSecmark    = 17 // CTA_SECMARK
	ctaLabels     = 22 // CTA_LABELS
	ctaTupleIP    = 1  // CTA_TUPLE_IP
	ctaTupleProto = 2  // CTA_TUPLE_PROTO
	ctaTupleZone  = 3  // CTA_TUPLE_ZONE
	ctaIPv4Src    = 1  // CTA_IP_V4_SRC
	ctaIPv4Dst    = 2  // CTA_IP_V4_DST
	ctaIPv6Src    = 3  // CTA_IP_V6_SRC
	ctaIPv6Dst    = 4  // CTA_IP_V6_DST
	ctaProtoNum   = 1  // CTA_PROTO_NUM
	ctaProtoSrc   = 2  // CTA_PROTO_SRC_PORT
	ctaProtoDst   = 3  // CTA_PROTO_DST_PORT
	ctaICMPID     = 4  // CTA_PROTO_ICMP_ID
	ctaICMPType   = 5  // CTA_PROTO_ICMP_TYPE
	ctaICMPCode   = 6  // CTA_PROTO_ICMP_CODE
	ctaICMPv6ID   = 7  // CTA_PROTO_ICMPV6_ID
	ctaICMPv6Type = 8  // CTA_PROTO_ICMPV6_TYPE
	ctaICMPv6Code = 9  // CTA_PROTO_ICMPV6_CODE
)

// Conntrack is the connection a packet belongs to (NFULA_CT), as far as
// nfnetlink_log sends it. Fields the kernel did not send stay zero.
type Conntrack struct {
	Original Tuple // CTA_TUPLE_ORIG
	Reply    Tuple // CTA_TUPLE_REPLY
	ID       uint32
	Status   ConntrackStatus
	Mark     uint32
	Zone     uint16
	Timeout  uint32 // seconds left
	Use      uint32
	Secmark  uint32
	Labels   []byte // CTA_LABELS bitmap, as sent
}

// Tuple is one direction of a connection.
type Tuple struct {
	Src, Dst netip.Addr
	Protocol uint8 // IP protocol number
	SrcPort  uint16
	DstPort  uint16
	ICMPID   uint16
	ICMPType uint8
	ICMPCode uint8
	Zone     uint16
}

// String formats the tuple like conntrack -L does.
func (t Tuple) String() string {
	s := IPProtocolName(t.Protocol) + " src=" + t.Src.String() + " dst=" + t.Dst.String()
	switch t.Protocol {
	case 1, 58:
		s += " type=" + strconv.Itoa(int(t.ICMPType)) + " code=" + strconv.Itoa(int(t.ICMPCode)) +
			" id=" + strconv.Itoa(int(t.ICMPID))
	default:
		if t.SrcPort != 0 || t.DstPort != 0 {
			s += " sport=" + strconv.Itoa(int(t.SrcPort)) + " dport=" + strconv.Itoa(int(t.DstPort))
		}
	}
	return s
}

// ConntrackStatus is the connection's status bitmap (enum ip_conntrack_status).
type ConntrackStatus uint32

// Status bits from include/uapi/linux/netfilter/nf_conntrack_common.h.
const (
	StatusExpected   ConntrackStatus = 1 << 0 // IPS_EXPECTED
	StatusSeenReply  ConntrackStatus = 1 << 1 // IPS_SEEN_REPLY
	StatusAssured    ConntrackStatus = 1 << 2 // IPS_ASSURED
	StatusConfirmed  ConntrackStatus = 1 << 3 // IPS_CONFIRMED
	StatusSrcNAT     ConntrackStatus = 1 << 4 // IPS_SRC_NAT
	StatusDstNAT     ConntrackStatus = 1 << 5 // IPS_DST_NAT
	StatusSeqAdjust  ConntrackStatus = 1 << 6 // IPS_SEQ_ADJUST
	StatusSrcNATDone ConntrackStatus = 1 << 7 // IPS_SRC_NAT_DONE
	StatusDstNATDone ConntrackStatus = 1 << 8 // IPS_DST_NAT_DONE
	StatusDying      ConntrackStatus = 1 << 9 // IPS_DYING
)

// ConntrackInfo is enum ip_conntrack_info: how the packet relates to its
// connection.
type ConntrackInfo uint32

const (
	CTEstablished      ConntrackInfo = 0 // IP_CT_ESTABLISHED
	CTRelated          ConntrackInfo = 1 // IP_CT_RELATED
	CTNew              ConntrackInfo = 2 // IP_CT_NEW
	CTEstablishedReply ConntrackInfo = 3 // IP_CT_ESTABLISHED_REPLY
	CTRelatedReply     ConntrackInfo = 4 // IP_CT_RELATED_REPLY
	CTUntracked        ConntrackInfo = 7 // IP_CT_UNTRACKED
)

func (c ConntrackInfo) String() string {
	switch c {
	case CTEstablished:
		return "established"
	case CTRelated:
		return "related"
	case CTNew:
		return "new"
	case CTEstablishedReply:
		return "established_reply"
	case CTRelatedReply:
		return "related_reply"
	case CTUntracked:
		return "untracked"
	}
	return "ctinfo" + strconv.Itoa(int(c))
}

// Map returns the connection as a map, for [Packet.Map].
func (c *Conntrack) Map() map[string]any {
	m := map[string]any{
		"id":     c.ID,
		"status": uint32(c.Status),
		"mark":   c.Mark,
		"zone":   c.Zone,
	}
	if c.Original.Src.IsValid() {
		m["orig"] = c.Original.String()
	}
	if c.Reply.Src.IsValid() {
		m["reply"] = c.Reply.String()
	}
	return m
}

// decodeConntrack decodes the nested NFULA_CT attribute. Unknown attributes
// are skipped, not rejected, so that newer kernels keep working.
func decodeConntrack(b []byte, swap bool, ct *Conntrack) error {
	it := tlvIter{b: b, swap: swap}
	for it.next() {
		v := it.val
		var err error
		switch it.typ {
		case ctaTupleOrig:
			err = decodeTuple(v, swap, &ct.Original)
		case ctaTupleReply:
			err = decodeTuple(v, swap, &ct.Reply)
		case ctaStatus:
			var s uint32
			s, err = be32(v, "ct status")
			ct.Status = ConntrackStatus(s)
		case ctaTimeout:
			ct.Timeout, err = be32(v, "ct timeout")
		case ctaMark:
			ct.Mark, err = be32(v, "ct mark")
		case ctaUse:
			ct.Use, err = be32(v, "ct use")
		case ctaID:
			ct.ID, err = be32(v, "ct id")
		case ctaSecmark:
			ct.Secmark, err = be32(v, "ct secmark")
		case ctaZone:
			ct.Zone, err = be16(v, "ct zone")
		case ctaLabels:
			ct.Labels = v
		}
		if err != nil {
			return err
		}
	}
	return it.err
}

func decodeTuple(b []byte, swap bool, t *Tuple) error {
	it := tlvIter{b: b, swap: swap}
	for it.next() {
		var err error
		switch it.typ {
		case ctaTupleIP:
			err = decodeTupleIP(it.val, swap, t)
		case ctaTupleProto:
			err = decodeTupleProto(it.val, swap, t)
		case ctaTupleZone:
			t.Zone, err = be16(it.val, "ct tuple zone")
		}
		if err != nil {
			return err
		}
	}
	return it.err
}

func decodeTupleIP(b []byte, swap bool, t *Tuple) error {
	it := tlvIter{b: b, swap: swap}
	for it.next() {
		v := it.val
		switch it.typ {
		case ctaIPv4Src, ctaIPv4Dst:
			if len(v) < 4 {
				return fmt.Errorf("%w: ct IPv4 address has %d bytes, want 4", ErrMalformed, len(v))
			}
			a := netip.AddrFrom4([4]byte(v[:4]))
			if it.typ == ctaIPv4Src {
				t.Src = a
			} else {
				t.Dst = a
			}
		case ctaIPv6Src, ctaIPv6Dst:
			if len(v) < 16 {
				return fmt.Errorf("%w: ct IPv6 address has %d bytes, want 16", ErrMalformed, len(v))
			}
			a := netip.AddrFrom16([16]byte(v[:16]))
			if it.typ == ctaIPv6Src {
				t.Src = a
			} else {
				t.Dst = a
			}
		}
	}
	return it.err
}

func decodeTupleProto(b []byte, swap bool, t *Tuple) error {
	it := tlvIter{b: b, swap: swap}
	for it.next() {
		v := it.val
		var err error
		switch it.typ {
		case ctaProtoNum:
			t.Protocol, err = u8(v, "ct proto num")
		case ctaProtoSrc:
			t.SrcPort, err = be16(v, "ct src port")
		case ctaProtoDst:
			t.DstPort, err = be16(v, "ct dst port")
		case ctaICMPID, ctaICMPv6ID:
			t.ICMPID, err = be16(v, "ct icmp id")
		case ctaICMPType, ctaICMPv6Type:
			t.ICMPType, err = u8(v, "ct icmp type")
		case ctaICMPCode, ctaICMPv6Code:
			t.ICMPCode, err = u8(v, "ct icmp code")
		}
		if err != nil {
			return err
		}
	}
	return it.err
}
