//go:build linux

package nflog

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/nflogr/telegraf-nflog/nflog"
)

// A ranking's key is made of parts taken from each packet. Addresses,
// ports and the protocol are values of the packet; the other parts are
// tags of the packet's metrics, found by name.
type keyPart uint8

const (
	partSrc keyPart = iota
	partDst
	partSrcNet
	partDstNet
	partSport
	partDport
	partIPProto
	partTag // prefix, indev, outdev, hook, group or a prefix_pattern group
)

// valuePartNames are the parts that are not tags.
var valuePartNames = map[string]keyPart{
	"src":      partSrc,
	"dst":      partDst,
	"src_net":  partSrcNet,
	"dst_net":  partDstNet,
	"sport":    partSport,
	"dport":    partDport,
	"ip_proto": partIPProto,
}

// tagPartNames are the plugin's own tags that a key may use; a
// prefix_pattern's named groups come on top.
var tagPartNames = []string{"prefix", "indev", "outdev", "hook", "group"}

const (
	// maxKeyTags bounds the tag parts of one key, which rankKey holds in an
	// array so that it stays comparable and fixed in size.
	maxKeyTags = 4
	// noneValue is a part the packet lacks: ports of ICMP, the address of
	// ARP, a prefix of a rule without one.
	noneValue = "none"
	// otherValue is every key tag of the "other" entry.
	otherValue = "other"
)

// A packet's key in a ranking is a fixed-size comparable value, so that it
// is made and looked up without allocating: valueKey for keys of values
// only and tagKey for keys with tags. valueKey holds no pointer and no
// padding (40 bytes): it is hashed and compared as plain memory and copied
// without write barriers (netip.Addr holds a pointer). Only the parts of
// the ranking's key are set; the rest stay zero, as do parts the packet
// lacks, with their has bit clear.
type valueKey struct {
	src, dst     addr128 // masked for src_net and dst_net
	sport, dport uint16
	proto        uint8
	has          keyHas
	zero         uint16 // always 0: no padding, so the key hashes as memory
}

// addr128 is an IP address as two big-endian halves; IPv4 as
// ::ffff:a.b.c.d (netip.Addr.As16).
type addr128 struct{ hi, lo uint64 }

func addrOf(a netip.Addr) addr128 {
	b := a.As16()
	return addr128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (a addr128) and(m addr128) addr128 { return addr128{a.hi & m.hi, a.lo & m.lo} }

// netip returns the address; is4 says whether it is an IPv4 one.
func (a addr128) netip(is4 bool) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], a.hi)
	binary.BigEndian.PutUint64(b[8:], a.lo)
	ip := netip.AddrFrom16(b)
	if is4 {
		ip = ip.Unmap()
	}
	return ip
}

// maskOf returns the mask that keeps the first bits of an address in the
// 16-byte form: for IPv4, the 96 bits of the ::ffff: prefix and then bits
// of the IPv4 address.
func maskOf(bits int, is4 bool) addr128 {
	if is4 {
		bits += 96
	}
	ones := func(n int) uint64 { // the first n of 64 bits
		switch {
		case n <= 0:
			return 0
		case n >= 64:
			return ^uint64(0)
		}
		return ^(^uint64(0) >> n)
	}
	return addr128{ones(bits), ones(bits - 64)}
}

// tagKey is a key with tag parts. Tag strings are those of the builder's
// tags, which are safe to keep: the reader copies (and interns) prefixes
// and device names out of its receive buffer, and tagValue and the
// builder's caches make new strings; a summary holds at most summary_size
// keys, so what they hold is bounded too.
type tagKey struct {
	valueKey
	tags [maxKeyTags]string
}

type keyHas uint8

const (
	hasAddrs keyHas = 1 << iota // an IP packet: src and dst are set
	hasIPv4                     // and of IPv4
	hasPorts
	hasProto
)

// keyShape is what a ranking takes from a packet; made by Init.
type keyShape struct {
	parts    []keyPart // in the order of "key"
	names    []string  // the parts' names, which are the tags of nflog_top
	tagNames []string  // names of the partTag parts, in order: tagKey.tags
	masks    netMasks

	// The masks applied to src and dst: all ones for an address part, the
	// network's for a net part, zero when the key has no such part.
	src4, src6, dst4, dst6 addr128
	addrs, sport, dport    bool
	proto                  bool
}

func newKeyShape(parts []keyPart, names []string, masks netMasks) *keyShape {
	s := &keyShape{parts: parts, names: names, masks: masks}
	all := addr128{^uint64(0), ^uint64(0)}
	for i, p := range parts {
		switch p {
		case partSrc:
			s.src4, s.src6 = all, all
		case partDst:
			s.dst4, s.dst6 = all, all
		case partSrcNet:
			s.src4, s.src6 = maskOf(masks.v4, true), maskOf(masks.v6, false)
		case partDstNet:
			s.dst4, s.dst6 = maskOf(masks.v4, true), maskOf(masks.v6, false)
		case partSport:
			s.sport = true
		case partDport:
			s.dport = true
		case partIPProto:
			s.proto = true
		case partTag:
			s.tagNames = append(s.tagNames, names[i])
		}
		s.addrs = s.addrs || p <= partDstNet
	}
	return s
}

// values makes the value parts of the packet's key. ip says whether l
// holds an IP header: ARP's addresses are not IP hosts and count as none.
func (s *keyShape) values(l *nflog.Layers, ip bool) valueKey {
	var k valueKey
	if !ip {
		return k
	}
	if s.addrs {
		k.has |= hasAddrs
		src, dst := s.src6, s.dst6
		if l.EtherType == etherTypeIPv4 {
			k.has |= hasIPv4
			src, dst = s.src4, s.dst4
		}
		k.src, k.dst = addrOf(l.Src).and(src), addrOf(l.Dst).and(dst)
	}
	if (s.sport || s.dport) && l.HasPorts {
		k.has |= hasPorts
		if s.sport {
			k.sport = l.SrcPort
		}
		if s.dport {
			k.dport = l.DstPort
		}
	}
	if s.proto {
		k.proto = l.Protocol
		k.has |= hasProto
	}
	return k
}

// tagValues fills the tag parts of the packet's key.
func (s *keyShape) tagValues(b *builder, p *nflog.Packet, tags *[maxKeyTags]string) {
	for i, name := range s.tagNames {
		tags[i] = b.tagOf(name, p)
	}
}

// tagOf returns the value of the packet's tag name, "" when it has none.
// The builder has made the packet's tags already; hook and group are among
// them only when extra_tags asks for them, so they are made here otherwise.
func (b *builder) tagOf(name string, p *nflog.Packet) string {
	for _, t := range b.tagList {
		if t.key == name {
			return t.value
		}
	}
	switch name {
	case "hook":
		if p.Has(nflog.AttrPacketHdr) {
			return nflog.HookName(p.Family, p.Hook)
		}
	case "group":
		return b.number(uint32(p.Group))
	}
	return ""
}

// tags returns the tags of k's nflog_top point: one per part, named like
// the part.
func (s *keyShape) tags(ranking string, k *valueKey, keyTags *[maxKeyTags]string) map[string]string {
	tags := make(map[string]string, len(s.parts)+1)
	tags["ranking"] = ranking
	tag := 0
	for i, p := range s.parts {
		v := noneValue
		switch p {
		case partSrc, partDst, partSrcNet, partDstNet:
			if k.has&hasAddrs == 0 {
				break
			}
			a := k.src
			if p == partDst || p == partDstNet {
				a = k.dst
			}
			ip := a.netip(k.has&hasIPv4 != 0)
			if p == partSrc || p == partDst {
				v = ip.String()
			} else {
				v = s.masks.name(ip)
			}
		case partSport:
			if k.has&hasPorts != 0 {
				v = strconv.Itoa(int(k.sport))
			}
		case partDport:
			if k.has&hasPorts != 0 {
				v = strconv.Itoa(int(k.dport))
			}
		case partIPProto:
			if k.has&hasProto != 0 {
				v = nflog.IPProtocolName(k.proto)
			}
		case partTag:
			if keyTags[tag] != "" {
				v = keyTags[tag]
			}
			tag++
		}
		tags[s.names[i]] = v
	}
	return tags
}

// otherTags returns the tags of the "other" entry.
func (s *keyShape) otherTags(ranking string) map[string]string {
	tags := make(map[string]string, len(s.parts)+1)
	tags["ranking"] = ranking
	for _, name := range s.names {
		tags[name] = otherValue
	}
	return tags
}
