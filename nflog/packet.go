package nflog

import (
	"encoding/hex"
	"encoding/json"
	"net"
	"time"
)

// Packet is one logged packet: every attribute the kernel sent, decoded.
//
// It is a plain value. Packets returned by [Reader.Next], [Reader.TryNext] and
// [Reader.All] own their memory and may be kept. The packet handed to a
// [Reader.Loop] callback is reused: its byte slices point into the reader's
// receive buffer and are valid only until the callback returns; call
// [Packet.Clone] to keep it. Strings (Prefix and the device names) are always
// safe to keep.
//
// An attribute the kernel did not send leaves its field at the zero value;
// use [Packet.Has] where zero is a meaningful value (uid 0, mark 0, seq 0).
type Packet struct {
	// Family is the netfilter family of the rule that logged the packet.
	Family Family
	// Group is the NFLOG group the packet was logged to.
	Group uint16
	// HwProtocol is the packet's EtherType (0x0800 IPv4, 0x86dd IPv6, ...).
	HwProtocol uint16
	// Hook is the netfilter hook at which the rule matched.
	Hook Hook
	// Mark is the packet mark (skb->mark). The kernel omits a zero mark.
	Mark uint32

	// Timestamp is the kernel's timestamp when Has(AttrTimestamp), otherwise
	// the time the reader received the message (the kernel sends none at
	// OUTPUT and POSTROUTING) or, for a capture file, the record's time.
	Timestamp time.Time

	// Interface indexes; 0 when not sent. Names are resolved in the
	// reader's network namespace; an index unknown there reads "ifindexN".
	InDev, OutDev, PhysInDev, PhysOutDev                 uint32
	InDevName, OutDevName, PhysInDevName, PhysOutDevName string

	// HwAddr is the link-layer source address (NFULA_HWADDR), cut to the
	// length the kernel reported (hw_addrlen).
	HwAddr   []byte
	HwType   uint16 // ARPHRD_* of the input device (1 Ethernet, 772 loopback)
	HwLen    uint16 // length of HwHeader as the kernel reported it
	HwHeader []byte // link-layer header of the input device

	// Payload is the packet from its network header (from the Ethernet
	// header for netdev egress and ARP output), cut to the copy range. Use
	// [Packet.Layers] for the real length and the addresses.
	Payload []byte

	// Prefix is the log prefix of the rule (--nflog-prefix, nft log prefix),
	// without its NUL. It may be empty and may hold invalid UTF-8.
	Prefix string

	// UID and GID of the local socket owning the packet; see Has(AttrUID).
	UID, GID uint32

	// Seq is the per-group sequence number (needs FlagSequence), GlobalSeq
	// the per-namespace one (needs FlagGlobalSequence).
	Seq, GlobalSeq uint32

	// Conntrack is the packet's connection (needs FlagConntrack).
	Conntrack Conntrack
	// ConntrackInfo is the packet's enum ip_conntrack_info (needs FlagConntrack).
	ConntrackInfo ConntrackInfo

	// VLAN is the 802.1Q tag (bridge and netdev families).
	VLAN VLAN
	// L2Header is the full MAC header (bridge and netdev families).
	L2Header []byte

	// Unknown holds attributes this package does not know, for kernels newer
	// than it, in the order received.
	Unknown []RawAttribute

	// Truncated reports a message that a capture file holds only in part:
	// the capture's snap length (tcpdump -s) cut its record, so Raw has
	// fewer bytes than OriginalLen. The attributes wholly within Raw are
	// decoded; the one the cut fell in and those after it are missing, and
	// Has reports them absent. A cut between two attributes is flagged the
	// same. Messages from the kernel are never truncated: the copy range
	// shortens the payload attribute, which stays whole.
	Truncated bool
	// OriginalLen is the message's length before the cut, when Truncated.
	OriginalLen int

	// Raw is the message as received: the nfgenmsg header and the
	// attributes, their headers in host byte order (or in the capturing
	// host's order, for a capture file of the other endianness). It is what
	// [PcapWriter] writes.
	Raw []byte

	present uint32 // bit n set: attribute n was sent
	swapped bool   // Raw's attribute headers are in the opposite of host order
}

// VLAN is the decoded NFULA_VLAN attribute.
type VLAN struct {
	Proto uint16 // TPID, 0x8100 or 0x88a8
	TCI   uint16 // priority (3 bits), DEI (1 bit), VLAN id (12 bits)
}

// ID is the 12-bit VLAN identifier.
func (v VLAN) ID() uint16 { return v.TCI & 0x0fff }

// Priority is the 3-bit priority code point.
func (v VLAN) Priority() uint8 { return uint8(v.TCI >> 13) }

// RawAttribute is an attribute kept undecoded.
type RawAttribute struct {
	Type uint16 // without the NLA_F_NESTED and NLA_F_NET_BYTEORDER flags
	Data []byte
}

// Has reports whether the kernel sent attribute a.
func (p *Packet) Has(a Attr) bool {
	return a <= 31 && p.present&(1<<a) != 0
}

func (p *Packet) set(a Attr) { p.present |= 1 << a }

// Clone returns a deep copy of p whose byte slices share no memory with p:
// one allocation for all the bytes (plus one for Unknown, when set).
func (p *Packet) Clone() Packet {
	c := *p
	if len(p.Raw) == 0 {
		c.Unknown = append([]RawAttribute(nil), p.Unknown...)
		c.HwAddr = cloneBytes(p.HwAddr)
		c.HwHeader = cloneBytes(p.HwHeader)
		c.Payload = cloneBytes(p.Payload)
		c.L2Header = cloneBytes(p.L2Header)
		c.Conntrack.Labels = cloneBytes(p.Conntrack.Labels)
		return c
	}
	raw := make([]byte, len(p.Raw))
	copy(raw, p.Raw)
	c.Raw = raw
	c.HwAddr = rebase(p.HwAddr, p.Raw, raw)
	c.HwHeader = rebase(p.HwHeader, p.Raw, raw)
	c.Payload = rebase(p.Payload, p.Raw, raw)
	c.L2Header = rebase(p.L2Header, p.Raw, raw)
	c.Conntrack.Labels = rebase(p.Conntrack.Labels, p.Raw, raw)
	if len(p.Unknown) > 0 {
		c.Unknown = make([]RawAttribute, len(p.Unknown))
		for i, a := range p.Unknown {
			c.Unknown[i] = RawAttribute{Type: a.Type, Data: rebase(a.Data, p.Raw, raw)}
		}
	}
	return c
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// rebase returns the slice of dst at the offset where sub lies within src,
// or a copy of sub if it does not lie within src.
func rebase(sub, src, dst []byte) []byte {
	if sub == nil {
		return nil
	}
	if len(sub) == 0 || len(src) == 0 {
		return sub[:0:0]
	}
	off := offsetIn(sub, src)
	if off < 0 {
		return cloneBytes(sub)
	}
	return dst[off : off+len(sub) : off+len(sub)]
}

// Map returns the packet as a map of names to Go values, like nflogr's
// dict(data): family, group, timestamp, timestamp_us and kernel_time
// always; truncated and original_len for a truncated capture record; the attributes the kernel sent (hook with the packet header,
// interface names with their indexes, ...); and what Layers decodes
// (length, src, dst, ip_proto, sport, dport, icmp_type, icmp_code).
// hwaddr is colon-separated, other byte values are hex strings, and payload
// stays []byte.
func (p *Packet) Map() map[string]any {
	m := map[string]any{
		"family":       p.Family.String(),
		"group":        p.Group,
		"timestamp":    p.Timestamp,
		"timestamp_us": p.Timestamp.UnixMicro(),
		"kernel_time":  p.Has(AttrTimestamp),
	}
	if p.Truncated {
		m["truncated"] = true
		m["original_len"] = p.OriginalLen
	}
	if p.Has(AttrPacketHdr) {
		m["proto"] = p.HwProtocol
		m["proto_name"] = EtherTypeName(p.HwProtocol)
		m["hook"] = HookName(p.Family, p.Hook)
	}
	if p.Has(AttrMark) {
		m["mark"] = p.Mark
	}
	devs := []struct {
		a    Attr
		key  string
		idx  uint32
		name string
	}{
		{AttrInDev, "indev", p.InDev, p.InDevName},
		{AttrOutDev, "outdev", p.OutDev, p.OutDevName},
		{AttrPhysInDev, "physindev", p.PhysInDev, p.PhysInDevName},
		{AttrPhysOutDev, "physoutdev", p.PhysOutDev, p.PhysOutDevName},
	}
	for _, d := range devs {
		if p.Has(d.a) {
			m[d.key] = d.name
			m[d.key+"_index"] = d.idx
		}
	}
	if p.Has(AttrHwAddr) {
		m["hwaddr"] = net.HardwareAddr(p.HwAddr).String()
	}
	if p.Has(AttrHwType) {
		m["hwtype"] = p.HwType
	}
	if p.Has(AttrHwHeader) {
		m["hwhdr"] = hex.EncodeToString(p.HwHeader)
	}
	if p.Has(AttrPayload) {
		m["payload"] = p.Payload
	}
	if p.Has(AttrPrefix) {
		m["prefix"] = p.Prefix
	}
	if p.Has(AttrUID) {
		m["uid"] = p.UID
	}
	if p.Has(AttrGID) {
		m["gid"] = p.GID
	}
	if p.Has(AttrSeq) {
		m["seq"] = p.Seq
	}
	if p.Has(AttrSeqGlobal) {
		m["seq_global"] = p.GlobalSeq
	}
	if p.Has(AttrConntrack) {
		m["ct"] = p.Conntrack.Map()
	}
	if p.Has(AttrConntrackInfo) {
		m["ct_info"] = p.ConntrackInfo.String()
	}
	if p.Has(AttrVLAN) {
		m["vlan_id"] = p.VLAN.ID()
		m["vlan_proto"] = p.VLAN.Proto
		m["vlan_tci"] = p.VLAN.TCI
	}
	if p.Has(AttrL2Header) {
		m["l2hdr"] = hex.EncodeToString(p.L2Header)
	}
	if l, ok := p.Layers(); ok {
		m["length"] = l.Length
		if l.Src.IsValid() {
			m["src"] = l.Src.String()
			m["dst"] = l.Dst.String()
		}
		if l.HasTransport() {
			m["ip_proto"] = IPProtocolName(l.Protocol)
		}
		if l.HasPorts {
			m["sport"] = l.SrcPort
			m["dport"] = l.DstPort
		}
		if l.HasICMP {
			m["icmp_type"] = l.ICMPType
			m["icmp_code"] = l.ICMPCode
		}
	}
	for _, a := range p.Unknown {
		m[Attr(a.Type).String()] = hex.EncodeToString(a.Data)
	}
	return m
}

// MarshalJSON encodes [Packet.Map] as a JSON object. Invalid UTF-8 in the
// prefix becomes U+FFFD; the payload is base64.
func (p Packet) MarshalJSON() ([]byte, error) {
	return json.Marshal(p.Map())
}
