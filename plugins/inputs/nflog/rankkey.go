//go:build linux

package nflog

import (
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

// rankKey is the key of one packet in one ranking: a fixed-size comparable
// value, so that a packet's key is made and looked up without allocating.
// Only the parts of the ranking's key are set; the rest stay zero. A
// missing part is the zero value with its has bit clear (addresses: the
// zero Addr; tags: ""). src and dst hold the masked address for src_net
// and dst_net. Tag strings are those of the builder's tags, which are safe
// to keep: the reader copies (and interns) prefixes and device names out of
// its receive buffer, and tagValue and the builder's caches make new
// strings; a summary holds at most summary_size keys, so what they hold
// is bounded too.
type rankKey struct {
	src, dst     netip.Addr
	sport, dport uint16
	proto        uint8
	has          keyHas
	tags         [maxKeyTags]string
}

type keyHas uint8

const (
	hasPorts keyHas = 1 << iota
	hasProto
)

// keyShape is what a ranking takes from a packet; made by Init.
type keyShape struct {
	parts    []keyPart // in the order of "key"
	names    []string  // the parts' names, which are the tags of nflog_top
	tagNames []string  // names of the partTag parts, in order: rankKey.tags
	masks    netMasks

	src, dst, srcNet, dstNet, ports, proto bool
}

func newKeyShape(parts []keyPart, names []string, masks netMasks) *keyShape {
	s := &keyShape{parts: parts, names: names, masks: masks}
	for i, p := range parts {
		switch p {
		case partSrc:
			s.src = true
		case partDst:
			s.dst = true
		case partSrcNet:
			s.src, s.srcNet = true, true
		case partDstNet:
			s.dst, s.dstNet = true, true
		case partSport, partDport:
			s.ports = true
		case partIPProto:
			s.proto = true
		case partTag:
			s.tagNames = append(s.tagNames, names[i])
		}
	}
	return s
}

// key makes the packet's key. ip says whether l holds an IP header: ARP's
// addresses are not IP hosts and count as none.
func (s *keyShape) key(b *builder, p *nflog.Packet, l *nflog.Layers, ip bool) rankKey {
	var k rankKey
	if ip {
		if s.src {
			k.src = l.Src
			if s.srcNet {
				k.src = s.masks.mask(k.src)
			}
		}
		if s.dst {
			k.dst = l.Dst
			if s.dstNet {
				k.dst = s.masks.mask(k.dst)
			}
		}
		if s.ports && l.HasPorts {
			k.sport, k.dport = l.SrcPort, l.DstPort
			k.has |= hasPorts
		}
		if s.proto {
			k.proto = l.Protocol
			k.has |= hasProto
		}
	}
	for i, name := range s.tagNames {
		k.tags[i] = b.tagOf(name, p)
	}
	return k
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
func (s *keyShape) tags(ranking string, k rankKey) map[string]string {
	tags := make(map[string]string, len(s.parts)+1)
	tags["ranking"] = ranking
	tag := 0
	for i, p := range s.parts {
		v := noneValue
		switch p {
		case partSrc:
			if k.src.IsValid() {
				v = k.src.String()
			}
		case partDst:
			if k.dst.IsValid() {
				v = k.dst.String()
			}
		case partSrcNet:
			if k.src.IsValid() {
				v = s.masks.name(k.src)
			}
		case partDstNet:
			if k.dst.IsValid() {
				v = s.masks.name(k.dst)
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
			if k.tags[tag] != "" {
				v = k.tags[tag]
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
