package nflog

import "strconv"

// Kernel constants from include/uapi/linux/netfilter/nfnetlink.h and
// nfnetlink_log.h. They stay unexported: the public API speaks in Go types.
const (
	nfnlSubsysULOG = 4 // NFNL_SUBSYS_ULOG

	nfulnlMsgPacket = nfnlSubsysULOG<<8 | 0 // NFULNL_MSG_PACKET: kernel -> user
	nfulnlMsgConfig = nfnlSubsysULOG<<8 | 1 // NFULNL_MSG_CONFIG: user -> kernel

	nfgenmsgLen = 4 // struct nfgenmsg {u8 nfgen_family; u8 version; __be16 res_id}
	nlmsgHdrLen = 16
	nlaHdrLen   = 4

	nlaFNested       = 0x8000 // NLA_F_NESTED
	nlaFNetByteorder = 0x4000 // NLA_F_NET_BYTEORDER
	nlaTypeMask      = ^uint16(nlaFNested | nlaFNetByteorder)

	nlmsgNoop    = 0x1 // NLMSG_NOOP
	nlmsgError   = 0x2 // NLMSG_ERROR
	nlmsgDone    = 0x3 // NLMSG_DONE
	nlmsgOverrun = 0x4 // NLMSG_OVERRUN
)

// enum nfulnl_msg_config_cmds
const (
	cfgCmdNone   = 0 // NFULNL_CFG_CMD_NONE
	cfgCmdBind   = 1 // NFULNL_CFG_CMD_BIND
	cfgCmdUnbind = 2 // NFULNL_CFG_CMD_UNBIND
	// PF_BIND (3) and PF_UNBIND (4) are deliberately absent: they are global
	// actions that break other logging users, and NFLOG rules do not need them.
)

// enum nfulnl_attr_config
const (
	cfgAttrCmd      = 1 // NFULA_CFG_CMD
	cfgAttrMode     = 2 // NFULA_CFG_MODE: struct nfulnl_msg_config_mode
	cfgAttrNlbufsiz = 3 // NFULA_CFG_NLBUFSIZ
	cfgAttrTimeout  = 4 // NFULA_CFG_TIMEOUT: hundredths of a second
	cfgAttrQthresh  = 5 // NFULA_CFG_QTHRESH
	cfgAttrFlags    = 6 // NFULA_CFG_FLAGS
)

// NFULNL_COPY_* values as the kernel knows them.
const (
	kernelCopyNone   = 0
	kernelCopyMeta   = 1
	kernelCopyPacket = 2
)

// Kernel limits (net/netfilter/nfnetlink_log.c).
const (
	copyRangeMax   = 0xffff - nlaHdrLen // NFULNL_COPY_RANGE_MAX = 65531
	nlbufsizMin    = 4096               // NFULNL_NLBUFSIZ_DEFAULT (one page on x86)
	nlbufsizMax    = 131072             // larger values are silently ignored
	flagsKnownMask = 0x7
)

// Attr is the type of a packet attribute (enum nfulnl_attr_type). It is used
// with [Packet.Has] to ask whether the kernel sent an attribute.
type Attr uint16

// Packet attributes, named as in nfnetlink_log.h (NFULA_*).
const (
	AttrPacketHdr     Attr = 1  // NFULA_PACKET_HDR: EtherType and hook
	AttrMark          Attr = 2  // NFULA_MARK: sent only when the mark is non-zero
	AttrTimestamp     Attr = 3  // NFULA_TIMESTAMP: absent at OUTPUT and POSTROUTING
	AttrInDev         Attr = 4  // NFULA_IFINDEX_INDEV
	AttrOutDev        Attr = 5  // NFULA_IFINDEX_OUTDEV
	AttrPhysInDev     Attr = 6  // NFULA_IFINDEX_PHYSINDEV (bridge ports)
	AttrPhysOutDev    Attr = 7  // NFULA_IFINDEX_PHYSOUTDEV
	AttrHwAddr        Attr = 8  // NFULA_HWADDR
	AttrPayload       Attr = 9  // NFULA_PAYLOAD
	AttrPrefix        Attr = 10 // NFULA_PREFIX
	AttrUID           Attr = 11 // NFULA_UID
	AttrSeq           Attr = 12 // NFULA_SEQ: per-group sequence number
	AttrSeqGlobal     Attr = 13 // NFULA_SEQ_GLOBAL: per-namespace sequence number
	AttrGID           Attr = 14 // NFULA_GID
	AttrHwType        Attr = 15 // NFULA_HWTYPE
	AttrHwHeader      Attr = 16 // NFULA_HWHEADER
	AttrHwLen         Attr = 17 // NFULA_HWLEN
	AttrConntrack     Attr = 18 // NFULA_CT
	AttrConntrackInfo Attr = 19 // NFULA_CT_INFO
	AttrVLAN          Attr = 20 // NFULA_VLAN (bridge and netdev families)
	AttrL2Header      Attr = 21 // NFULA_L2HDR (bridge and netdev families)
	attrMax                = 21
)

var attrNames = [...]string{
	AttrPacketHdr: "packet_hdr", AttrMark: "mark", AttrTimestamp: "timestamp",
	AttrInDev: "indev", AttrOutDev: "outdev", AttrPhysInDev: "physindev",
	AttrPhysOutDev: "physoutdev", AttrHwAddr: "hwaddr", AttrPayload: "payload",
	AttrPrefix: "prefix", AttrUID: "uid", AttrSeq: "seq", AttrSeqGlobal: "seq_global",
	AttrGID: "gid", AttrHwType: "hwtype", AttrHwHeader: "hwheader", AttrHwLen: "hwlen",
	AttrConntrack: "ct", AttrConntrackInfo: "ct_info", AttrVLAN: "vlan", AttrL2Header: "l2hdr",
}

func (a Attr) String() string {
	if int(a) < len(attrNames) && attrNames[a] != "" {
		return attrNames[a]
	}
	return "attr" + strconv.Itoa(int(a))
}

// Family is the netfilter protocol family of the rule that logged a packet
// (nfgenmsg.nfgen_family, NFPROTO_*).
type Family uint8

const (
	FamilyUnspec Family = 0  // NFPROTO_UNSPEC
	FamilyInet   Family = 1  // NFPROTO_INET (nft inet tables report 2 or 10)
	FamilyIPv4   Family = 2  // NFPROTO_IPV4
	FamilyARP    Family = 3  // NFPROTO_ARP
	FamilyNetdev Family = 5  // NFPROTO_NETDEV
	FamilyBridge Family = 7  // NFPROTO_BRIDGE
	FamilyIPv6   Family = 10 // NFPROTO_IPV6
)

func (f Family) String() string {
	switch f {
	case FamilyUnspec:
		return "unspec"
	case FamilyInet:
		return "inet"
	case FamilyIPv4:
		return "ipv4"
	case FamilyARP:
		return "arp"
	case FamilyNetdev:
		return "netdev"
	case FamilyBridge:
		return "bridge"
	case FamilyIPv6:
		return "ipv6"
	}
	return "family" + strconv.Itoa(int(f))
}

// Hook is the netfilter hook at which the packet was logged. The number
// means different hooks in different families: 0 is prerouting in inet and
// bridge rules, ingress in netdev rules and input in ARP rules. Name it
// with HookName(p.Family, p.Hook); the constants and String are the inet
// hooks' (NF_INET_*).
type Hook uint8

const (
	HookPrerouting  Hook = 0 // NF_INET_PRE_ROUTING
	HookInput       Hook = 1 // NF_INET_LOCAL_IN
	HookForward     Hook = 2 // NF_INET_FORWARD
	HookOutput      Hook = 3 // NF_INET_LOCAL_OUT
	HookPostrouting Hook = 4 // NF_INET_POST_ROUTING
	HookIngress     Hook = 5 // NF_INET_INGRESS: an nft inet table's ingress chain (Linux 5.10)
)

// String names h as an inet hook, whatever the packet's family: use
// HookName for a packet of a netdev, bridge or ARP rule.
func (h Hook) String() string { return inetHookName(h) }

// Hook names as nft spells them in "type filter hook NAME", per family,
// indexed by the kernel's hook numbers.
var (
	// enum nf_inet_hooks (linux/netfilter.h), for ip, ip6 and inet tables.
	inetHooks = [...]string{"prerouting", "input", "forward", "output", "postrouting", "ingress"}
	// NF_BR_* (linux/netfilter_bridge.h); 5, NF_BR_BROUTING, is the
	// ebtables broute table's.
	bridgeHooks = [...]string{"prerouting", "input", "forward", "output", "postrouting", "brouting"}
	// enum nf_dev_hooks (linux/netfilter.h).
	netdevHooks = [...]string{"ingress", "egress"}
	// NF_ARP_IN, NF_ARP_OUT, NF_ARP_FORWARD (linux/netfilter_arp.h).
	arpHooks = [...]string{"input", "output", "forward"}
)

func inetHookName(h Hook) string { return hookName(inetHooks[:], h) }

func hookName(names []string, h Hook) string {
	if int(h) < len(names) {
		return names[h]
	}
	return "hook" + strconv.Itoa(int(h))
}

// HookName names h as the rule's family knows it (and as nft spells it):
// netdev hooks are "ingress" and "egress", ARP hooks "input", "output" and
// "forward", bridge hooks those of inet plus "brouting", and the ip, ip6
// and inet families' "prerouting" to "postrouting" plus "ingress". Unknown
// numbers are "hook" and the number.
func HookName(f Family, h Hook) string {
	switch f {
	case FamilyNetdev:
		return hookName(netdevHooks[:], h)
	case FamilyARP:
		return hookName(arpHooks[:], h)
	case FamilyBridge:
		return hookName(bridgeHooks[:], h)
	}
	return inetHookName(h)
}

// EtherTypeName returns a lower-case name for common EtherTypes ("ipv4",
// "ipv6", "arp", ...) and "0x" followed by four hex digits for the others.
func EtherTypeName(t uint16) string {
	switch t {
	case 0x0800:
		return "ipv4"
	case 0x86dd:
		return "ipv6"
	case 0x0806:
		return "arp"
	case 0x8035:
		return "rarp"
	case 0x8100:
		return "vlan"
	case 0x88a8:
		return "qinq"
	case 0x8847:
		return "mpls"
	case 0x8848:
		return "mpls_multicast"
	case 0x8863:
		return "pppoe_discovery"
	case 0x8864:
		return "pppoe"
	case 0x888e:
		return "eapol"
	case 0x88cc:
		return "lldp"
	case 0x0000:
		return "none"
	}
	const hex = "0123456789abcdef"
	return string([]byte{'0', 'x', hex[t>>12], hex[t>>8&0xf], hex[t>>4&0xf], hex[t&0xf]})
}

// IPProtocolName returns a lower-case name for common IP protocol numbers and
// the decimal number for the others.
func IPProtocolName(p uint8) string {
	switch p {
	case 1:
		return "icmp"
	case 2:
		return "igmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 41:
		return "ipv6"
	case 47:
		return "gre"
	case 50:
		return "esp"
	case 51:
		return "ah"
	case 58:
		return "icmpv6"
	case 89:
		return "ospf"
	case 103:
		return "pim"
	case 112:
		return "vrrp"
	case 132:
		return "sctp"
	case 136:
		return "udplite"
	}
	return strconv.Itoa(int(p))
}
