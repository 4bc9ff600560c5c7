//go:build linux

package nflog

import (
	"github.com/influxdata/telegraf"

	"github.com/nflogr/telegraf-nflog/nflog"
)

const measurementPackets = "nflog"

// Opt-in fields.
type extraFields uint16

const (
	fieldSrc extraFields = 1 << iota
	fieldDst
	fieldSport
	fieldDport
	fieldSeq
	fieldSeqGlobal
	fieldCapturedLen
	fieldICMPType
	fieldICMPCode
	fieldTTL

	// fieldLen and fieldTruncated are not options: they mark, in
	// packetMetrics.present, that the packet has the "len" field, or the
	// "truncated" field of a capture record the snap length cut.
	fieldTruncated extraFields = 1 << 14
	fieldLen       extraFields = 1 << 15
)

var extraFieldNames = map[string]extraFields{
	"src":          fieldSrc,
	"dst":          fieldDst,
	"sport":        fieldSport,
	"dport":        fieldDport,
	"seq":          fieldSeq,
	"seq_global":   fieldSeqGlobal,
	"captured_len": fieldCapturedLen,
	"icmp_type":    fieldICMPType,
	"icmp_code":    fieldICMPCode,
	"ttl":          fieldTTL,
}

const (
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
)

type fieldPair struct {
	key   string
	value any
}

// packetMetrics makes the metric per packet ("packets" in metrics): the
// builder's tags, the packet's fields, made from a template of their shape
// (templates) and timed uniquely in their series (uniqueTimes). It runs on
// the reading goroutine only.
type packetMetrics struct {
	fields extraFields // the opt-in fields

	// Reused for every packet. Fields are collected in a slice and the
	// metric is made from a template of its shape (templates), not handed
	// to acc.AddFields as maps: filling two maps for metric.New to iterate
	// and sort was most of the plugin's cost per packet (BenchmarkAdd,
	// packets: 2.1-2.7 µs and 17 allocations then, 1.3-1.4 µs and 13 now).
	fieldList []fieldPair
	present   extraFields // which optional fields fieldList has
	tmplKey   []byte      // the tag set's key and present: the metric's shape

	templates templates
	times     uniqueTimes
	borrow    bool // the accumulator is a metricBorrower
}

func newPacketMetrics(fields extraFields) *packetMetrics {
	return &packetMetrics{
		fields:    fields,
		fieldList: make([]fieldPair, 0, 16),
		templates: templates{m: make(map[string]telegraf.Metric)},
		times:     uniqueTimes{last: make(map[string]*int64), limit: uniqueTimesLimit},
	}
}

// add emits the packet's metric, with the tags the builder made (key names
// their set) and length, the packet's length.
func (pm *packetMetrics) add(acc telegraf.Accumulator, p *nflog.Packet, l *nflog.Layers, layersOK bool,
	key []byte, tags []tagPair, length int64,
) {
	pm.fieldList, pm.present = pm.fieldList[:0], 0
	if p.Has(nflog.AttrPayload) {
		pm.field(fieldLen, "len", length)
	}
	pm.field(0, "mark", int64(p.Mark))
	pm.field(0, "timestamp_us", p.Timestamp.UnixMicro())
	if p.Truncated {
		// Only on replay: the capture's snap length cut the record, and the
		// attributes it cut (often the payload, so "len") are missing.
		pm.field(fieldTruncated, "truncated", true)
	}
	if pm.fields != 0 {
		pm.addExtraFields(p, l, layersOK)
	}
	pm.tmplKey = append(append(pm.tmplKey[:0], key...), byte(pm.present), byte(pm.present>>8))
	m := pm.templates.get(pm.tmplKey, tags, pm.fieldList, pm.borrow)
	m.SetTime(pm.times.next(key, p.Timestamp))
	acc.AddMetric(m)
}

func (pm *packetMetrics) addExtraFields(p *nflog.Packet, l *nflog.Layers, layersOK bool) {
	if layersOK {
		if pm.fields&fieldSrc != 0 && l.Src.IsValid() {
			pm.field(fieldSrc, "src", l.Src.String())
		}
		if pm.fields&fieldDst != 0 && l.Dst.IsValid() {
			pm.field(fieldDst, "dst", l.Dst.String())
		}
		if l.HasPorts {
			if pm.fields&fieldSport != 0 {
				pm.field(fieldSport, "sport", int64(l.SrcPort))
			}
			if pm.fields&fieldDport != 0 {
				pm.field(fieldDport, "dport", int64(l.DstPort))
			}
		}
		if l.HasICMP {
			if pm.fields&fieldICMPType != 0 {
				pm.field(fieldICMPType, "icmp_type", int64(l.ICMPType))
			}
			if pm.fields&fieldICMPCode != 0 {
				pm.field(fieldICMPCode, "icmp_code", int64(l.ICMPCode))
			}
		}
		if pm.fields&fieldTTL != 0 && (l.EtherType == etherTypeIPv4 || l.EtherType == etherTypeIPv6) {
			pm.field(fieldTTL, "ttl", int64(l.TTL))
		}
	}
	if pm.fields&fieldSeq != 0 && p.Has(nflog.AttrSeq) {
		pm.field(fieldSeq, "seq", int64(p.Seq))
	}
	if pm.fields&fieldSeqGlobal != 0 && p.Has(nflog.AttrSeqGlobal) {
		pm.field(fieldSeqGlobal, "seq_global", int64(p.GlobalSeq))
	}
	if pm.fields&fieldCapturedLen != 0 {
		pm.field(fieldCapturedLen, "captured_len", int64(len(p.Payload)))
	}
}

// field adds a field; bit says which optional one it is (0: always there).
// Values are int64, string or bool, which metrics keep as they are.
func (pm *packetMetrics) field(bit extraFields, name string, value any) {
	pm.fieldList = append(pm.fieldList, fieldPair{name, value})
	pm.present |= bit
}
