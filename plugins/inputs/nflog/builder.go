//go:build linux

package nflog

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/influxdata/telegraf"

	"github.com/nflogr/telegraf-nflog/nflog"
)

// cacheLimit bounds the small caches of the builder and its metric kinds.
const cacheLimit = 1024

// builder turns packets into metrics: it makes each packet's tags (tags.go)
// and feeds them, with the packet, to the metric kinds enabled by the
// "metrics" option, each nil when off: the metric per packet (packets.go,
// up to packet_metrics_per_second: ratelimit.go), the running counters
// (counters.go) and the rankings (rankings.go). add runs on the reading
// goroutine only; the counter set and the rankings are shared with Gather
// and have their own locks.
type builder struct {
	tags extraTags // the opt-in tags

	prefixRE    *regexp.Regexp
	prefixNames []string

	packets  *packetMetrics
	limit    *packetLimiter // packet_metrics_per_second; nil: no limit
	counters *counterSet
	rankings *rankings

	nets *netNames // the src_net and dst_net tags

	// Reused for every packet. Tags are collected in a slice, in the order
	// of add. Tag values never hold a NUL (tagValue), so key,
	// NUL-separated, names the tag set unambiguously.
	tagList []tagPair
	key     []byte // the tag set, in the order of add

	numbers  map[uint32]string   // decimal strings of uids, gids, groups
	prefixes map[string][]string // prefix_pattern results: name, value, ...
}

func newBuilder() *builder {
	return &builder{
		tagList:  make([]tagPair, 0, 16),
		numbers:  make(map[uint32]string),
		prefixes: make(map[string][]string),
	}
}

// add makes the packet's tags and hands the packet to each metric kind.
func (b *builder) add(acc telegraf.Accumulator, p *nflog.Packet) {
	b.tagList, b.key = b.tagList[:0], b.key[:0]

	l, layersOK := p.Layers()

	// Tags, in a fixed order: it makes b.key, the identity of the series.
	if p.Has(nflog.AttrPrefix) {
		prefix := strings.TrimSpace(p.Prefix)
		if !utf8.ValidString(prefix) {
			prefix = strings.ToValidUTF8(prefix, "\uFFFD")
		}
		if prefix != "" {
			b.tag("prefix", tagValue(prefix))
			if b.prefixRE != nil {
				kv := b.prefixTags(prefix)
				for i := 0; i+1 < len(kv); i += 2 {
					b.tag(kv[i], kv[i+1])
				}
			}
		}
	}
	if p.Has(nflog.AttrInDev) {
		b.tag("indev", ifName(p.InDevName, p.InDev))
	}
	if p.Has(nflog.AttrOutDev) {
		b.tag("outdev", ifName(p.OutDevName, p.OutDev))
	}
	if p.Has(nflog.AttrPacketHdr) {
		b.tag("proto", nflog.EtherTypeName(p.HwProtocol))
	}
	if p.Has(nflog.AttrUID) {
		b.tag("uid", b.number(p.UID))
	}
	if b.tags != 0 {
		b.addExtraTags(p, &l, layersOK)
	}

	length := int64(len(p.Payload))
	if layersOK && l.Length > 0 {
		length = int64(l.Length)
	}

	if b.packets != nil && (b.limit == nil || b.limit.allow()) {
		b.packets.add(acc, p, &l, layersOK, b.key, b.tagList, length)
	}
	if b.counters != nil {
		b.counters.add(b.key, b.tagList, length)
	}
	if b.rankings != nil {
		b.rankings.add(b, p, &l, layersOK, length)
	}
}
