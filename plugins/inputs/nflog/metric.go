//go:build linux

package nflog

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"

	"github.com/nflogr/telegraf-nflog/nflog"
)

// Measurements.
const (
	measurementPackets  = "nflog"
	measurementCounters = "nflog_counters"
	measurementStats    = "nflog_stats"
)

// Opt-in tags.
type extraTags uint16

const (
	tagFamily extraTags = 1 << iota
	tagGroup
	tagHook
	tagPhysInDev
	tagPhysOutDev
	tagGID
	tagIPProto
	tagSrcNet
	tagDstNet
)

var extraTagNames = map[string]extraTags{
	"family":     tagFamily,
	"group":      tagGroup,
	"hook":       tagHook,
	"physindev":  tagPhysInDev,
	"physoutdev": tagPhysOutDev,
	"gid":        tagGID,
	"ip_proto":   tagIPProto,
	"src_net":    tagSrcNet,
	"dst_net":    tagDstNet,
}

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

	// fieldLen is not an option: it marks, in builder.present, that the
	// packet has the "len" field.
	fieldLen extraFields = 1 << 15
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

// reservedTag reports whether name is a tag the plugin may set itself, which
// a prefix_pattern group must not shadow.
func reservedTag(name string) bool {
	switch name {
	case "prefix", "indev", "outdev", "proto", "uid":
		return true
	}
	_, ok := extraTagNames[name]
	return ok
}

const (
	// maxReorder bounds the time-bumping of uniqueTimes: a packet up to this
	// much older than the last one of its series (packets logged on several
	// CPUs arrive slightly out of order) is moved just after it; an older
	// one means the clock was stepped back and keeps its own time.
	maxReorder = time.Second
	// uniqueTimesLimit bounds the series remembered by uniqueTimes.
	uniqueTimesLimit = 8192
	// cacheLimit bounds the small string caches of the builder.
	cacheLimit = 1024
)

// builder turns packets into metrics. add runs on the reading goroutine
// only; the counter set is shared with Gather and has its own lock.
type builder struct {
	packets  bool // a metric per packet
	counters bool // running counters per tag set
	tags     extraTags
	fields   extraFields

	prefixRE    *regexp.Regexp
	prefixNames []string

	times    uniqueTimes
	series   *counterSet
	nets     *netNames      // src_net, dst_net tags
	limit    *packetLimiter // packet_metrics_per_second; nil: no limit
	rankings *rankings      // nil without "top"

	// Reused for every packet. Tags and fields are collected in slices
	// and the metric is made from a template of their shape (templates),
	// not handed to acc.AddFields as maps: filling two maps for
	// metric.New to iterate and sort was most of the plugin's cost per
	// packet (BenchmarkAdd, packets: 2.1-2.7 µs and 17 allocations then,
	// 1.3-1.4 µs and 13 now). Tag values never hold a NUL (tagValue), so
	// key, NUL-separated, names the tag set unambiguously.
	tagList   []tagPair
	fieldList []fieldPair
	present   extraFields // which optional fields fieldList has
	key       []byte      // the tag set, in the order of add
	tmplKey   []byte      // key and present: the metric's shape

	templates templates
	borrow    bool // the accumulator is a metricBorrower

	numbers  map[uint32]string   // decimal strings of uids, gids, groups
	prefixes map[string][]string // prefix_pattern results: name, value, ...
}

func newBuilder() *builder {
	return &builder{
		times:     uniqueTimes{last: make(map[string]*int64), limit: uniqueTimesLimit},
		tagList:   make([]tagPair, 0, 16),
		fieldList: make([]fieldPair, 0, 16),
		templates: templates{m: make(map[string]telegraf.Metric)},
		numbers:   make(map[uint32]string),
		prefixes:  make(map[string][]string),
	}
}

// add emits the packet's metric and counts it.
func (b *builder) add(acc telegraf.Accumulator, p *nflog.Packet) {
	b.tagList, b.fieldList, b.key, b.present = b.tagList[:0], b.fieldList[:0], b.key[:0], 0

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

	if b.packets && (b.limit == nil || b.limit.allow()) {
		if p.Has(nflog.AttrPayload) {
			b.field(fieldLen, "len", length)
		}
		b.field(0, "mark", int64(p.Mark))
		b.field(0, "timestamp_us", p.Timestamp.UnixMicro())
		if b.fields != 0 {
			b.addExtraFields(p, &l, layersOK)
		}
		b.tmplKey = append(append(b.tmplKey[:0], b.key...), byte(b.present), byte(b.present>>8))
		m := b.templates.get(b.tmplKey, b.tagList, b.fieldList, b.borrow)
		m.SetTime(b.times.next(b.key, p.Timestamp))
		acc.AddMetric(m)
	}
	if b.counters {
		b.series.add(b.key, b.tagList, length)
	}
	if b.rankings != nil {
		b.rankings.add(b, p, &l, layersOK, length)
	}
}

func (b *builder) addExtraTags(p *nflog.Packet, l *nflog.Layers, layersOK bool) {
	if b.tags&tagFamily != 0 {
		b.tag("family", p.Family.String())
	}
	if b.tags&tagGroup != 0 {
		b.tag("group", b.number(uint32(p.Group)))
	}
	if b.tags&tagHook != 0 && p.Has(nflog.AttrPacketHdr) {
		b.tag("hook", nflog.HookName(p.Family, p.Hook))
	}
	if b.tags&tagPhysInDev != 0 && p.Has(nflog.AttrPhysInDev) {
		b.tag("physindev", ifName(p.PhysInDevName, p.PhysInDev))
	}
	if b.tags&tagPhysOutDev != 0 && p.Has(nflog.AttrPhysOutDev) {
		b.tag("physoutdev", ifName(p.PhysOutDevName, p.PhysOutDev))
	}
	if b.tags&tagGID != 0 && p.Has(nflog.AttrGID) {
		b.tag("gid", b.number(p.GID))
	}
	if b.tags&tagIPProto != 0 && layersOK && l.HasTransport() {
		b.tag("ip_proto", nflog.IPProtocolName(l.Protocol))
	}
	if b.tags&(tagSrcNet|tagDstNet) != 0 && layersOK && l.HasTransport() {
		if b.tags&tagSrcNet != 0 {
			b.tag("src_net", b.nets.of(l.Src))
		}
		if b.tags&tagDstNet != 0 {
			b.tag("dst_net", b.nets.of(l.Dst))
		}
	}
}

func (b *builder) addExtraFields(p *nflog.Packet, l *nflog.Layers, layersOK bool) {
	if layersOK {
		if b.fields&fieldSrc != 0 && l.Src.IsValid() {
			b.field(fieldSrc, "src", l.Src.String())
		}
		if b.fields&fieldDst != 0 && l.Dst.IsValid() {
			b.field(fieldDst, "dst", l.Dst.String())
		}
		if l.HasPorts {
			if b.fields&fieldSport != 0 {
				b.field(fieldSport, "sport", int64(l.SrcPort))
			}
			if b.fields&fieldDport != 0 {
				b.field(fieldDport, "dport", int64(l.DstPort))
			}
		}
		if l.HasICMP {
			if b.fields&fieldICMPType != 0 {
				b.field(fieldICMPType, "icmp_type", int64(l.ICMPType))
			}
			if b.fields&fieldICMPCode != 0 {
				b.field(fieldICMPCode, "icmp_code", int64(l.ICMPCode))
			}
		}
		if b.fields&fieldTTL != 0 && (l.EtherType == etherTypeIPv4 || l.EtherType == etherTypeIPv6) {
			b.field(fieldTTL, "ttl", int64(l.TTL))
		}
	}
	if b.fields&fieldSeq != 0 && p.Has(nflog.AttrSeq) {
		b.field(fieldSeq, "seq", int64(p.Seq))
	}
	if b.fields&fieldSeqGlobal != 0 && p.Has(nflog.AttrSeqGlobal) {
		b.field(fieldSeqGlobal, "seq_global", int64(p.GlobalSeq))
	}
	if b.fields&fieldCapturedLen != 0 {
		b.field(fieldCapturedLen, "captured_len", int64(len(p.Payload)))
	}
}

const (
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
)

type tagPair struct{ key, value string }

type fieldPair struct {
	key   string
	value any
}

// tag sets a tag, unless it is set already, and appends it to the series
// key. Only prefix_pattern's groups can repeat a name (the plugin's own
// tags are distinct, and Init refuses groups named like them), so the scan
// for one is skipped without a pattern; a dozen tags at most: a scan beats
// a map.
func (b *builder) tag(name, value string) {
	if b.prefixRE != nil {
		for _, t := range b.tagList {
			if t.key == name {
				return
			}
		}
	}
	b.tagList = append(b.tagList, tagPair{name, value})
	b.key = append(b.key, name...)
	b.key = append(b.key, 0)
	b.key = append(b.key, value...)
	b.key = append(b.key, 0)
}

// tagValue makes an outside string (a log prefix and what prefix_pattern
// takes from it, an interface name: any bytes but NUL) safe for every
// output: each byte of invalid UTF-8, each control character (C0, DEL, C1)
// and a trailing backslash become U+FFFD. Line protocol cannot carry them:
// Telegraf's serializer writes a newline or a tab as the two characters
// `\n` or `\t`, which parsers read back as such, and drops a trailing
// backslash (and the tag, when nothing is left), while JSON turns invalid
// UTF-8 into U+FFFD. With this, line protocol and JSON show the same value,
// and it parses back unchanged.
func tagValue(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			clean = false
			break
		}
	}
	if clean && !strings.HasSuffix(s, `\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	for i, r := range s { // invalid UTF-8 comes as utf8.RuneError
		if unicode.IsControl(r) || r == '\\' && i == len(s)-1 {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}

// prefixTags returns the tags that prefix_pattern's named groups extract
// from prefix, as name, value pairs, lower-cased. Prefixes are few (one per
// rule), so results are cached.
func (b *builder) prefixTags(prefix string) []string {
	if kv, ok := b.prefixes[prefix]; ok {
		return kv
	}
	var kv []string
	if m := b.prefixRE.FindStringSubmatchIndex(prefix); m != nil {
		for i, name := range b.prefixNames {
			if name == "" || m[2*i] < 0 || m[2*i] == m[2*i+1] {
				continue
			}
			kv = append(kv, name, tagValue(strings.ToLower(prefix[m[2*i]:m[2*i+1]])))
		}
	}
	if len(b.prefixes) >= cacheLimit {
		clear(b.prefixes)
	}
	b.prefixes[prefix] = kv
	return kv
}

func (b *builder) number(n uint32) string {
	if s, ok := b.numbers[n]; ok {
		return s
	}
	s := strconv.FormatUint(uint64(n), 10)
	if len(b.numbers) >= cacheLimit {
		clear(b.numbers)
	}
	b.numbers[n] = s
	return s
}

// field adds a field; bit says which optional one it is (0: always there).
// Values are int64 or string, which metrics keep as they are.
func (b *builder) field(bit extraFields, name string, value any) {
	b.fieldList = append(b.fieldList, fieldPair{name, value})
	b.present |= bit
}

// templates holds, per shape of metric (tag set and which fields it has),
// a metric with those tags and fields, and makes each packet's metric as a
// Copy of it with the packet's values, or lends the template itself with
// them to a metricBorrower. Building every metric with AddTag
// and AddField cost 1.7-1.9 µs and 19 allocations a packet in BenchmarkAdd,
// mostly in growing the tag and field slices one by one; Copy sizes them
// once and skips the sorted insertion of the tags.
type templates struct {
	m    map[string]telegraf.Metric
	last lastHit[telegraf.Metric]
}

// lastHit remembers a cache's last lookup, so that a lookup of the same
// key again skips the map: consecutive packets are mostly of one series.
type lastHit[V any] struct {
	key []byte
	v   V
	ok  bool
}

func (l *lastHit[V]) get(key []byte) (V, bool) {
	if l.ok && bytes.Equal(key, l.key) {
		return l.v, true
	}
	var zero V
	return zero, false
}

func (l *lastHit[V]) set(key []byte, v V) {
	l.key, l.v, l.ok = append(l.key[:0], key...), v, true
}

func (l *lastHit[V]) reset() {
	var zero V
	l.v, l.ok = zero, false
}

// metricBorrower is implemented by an accumulator that is done with a
// metric when AddMetric returns: it serializes the metric at once and keeps
// nothing of it (the telegraf-nflog binary's). The plugin then lends it the
// template itself, with the packet's values, rather than a copy: the copy
// (a heap object for each tag and field) was a quarter to a third of the
// binary's CPU under flood (make bench, pprof). Telegraf's agent keeps
// metrics and never implements it.
type metricBorrower interface {
	BorrowsMetrics() bool
}

// get returns the packet's metric: a copy of the template of its shape
// with the packet's field values, or, with borrow, the template itself,
// valid until the next call.
func (t *templates) get(key []byte, tags []tagPair, fields []fieldPair, borrow bool) telegraf.Metric {
	tm, ok := t.last.get(key)
	if !ok {
		tm = t.m[string(key)]
		if tm == nil {
			tm = metric.New(measurementPackets, nil, nil, time.Time{})
			for _, tg := range tags {
				tm.AddTag(tg.key, tg.value)
			}
			for _, f := range fields {
				tm.AddField(f.key, f.value)
			}
			if len(t.m) >= cacheLimit {
				clear(t.m)
			}
			t.m[string(key)] = tm
		}
		t.last.set(key, tm)
	}
	m := tm
	if !borrow {
		m = tm.Copy()
	}
	// The shape fixes the field keys and their order: only values differ.
	for i, f := range m.FieldList() {
		f.Value = fields[i].value
	}
	return m
}

// ifName is the interface's name, made safe for the outputs, or
// "ifindexN" when names are not resolved.
func ifName(name string, index uint32) string {
	if name != "" {
		return tagValue(name)
	}
	return "ifindex" + strconv.FormatUint(uint64(index), 10)
}

// uniqueTimes gives every metric of a series (measurement + tag set) its
// own timestamp. InfluxDB keeps one point per series and time, and the
// kernel stamps packets in microseconds, so two packets of one series
// logged in the same microsecond would overwrite each other. A time that
// is not after the last one given to its series becomes that one plus 1 ns.
//
// The kernel's timestamps are whole microseconds, so the bumped times stay
// inside the packet's microsecond unless a single series logs more than a
// thousand packets in one microsecond, which one CPU cannot do; the
// timestamp_us field always carries the kernel's own value. A time more
// than maxReorder before the series' last one is a clock step, not a
// reordering, and is kept as it is.
//
// Memory is bounded: past limit series, those whose last time is more than
// maxReorder behind the newest time seen are forgotten. That is safe, as no
// later packet of theirs would be bumped anyway (it is either after their
// last time or more than maxReorder before it). If that does not free half
// of the map, more than limit/2 series were active within maxReorder and the
// map is cleared: the only loss is that a packet in the very microsecond of
// its series' previous one may then overwrite it.
type uniqueTimes struct {
	last   map[string]*int64 // pointers, so updates do not allocate a key
	newest int64
	limit  int

	prev lastHit[*int64]
}

func (u *uniqueTimes) next(key []byte, t time.Time) time.Time {
	ns := t.UnixNano()
	last, ok := u.prev.get(key)
	if !ok {
		if last, ok = u.last[string(key)]; ok {
			u.prev.set(key, last)
		}
	}
	if ok {
		if ns <= *last && *last-ns < int64(maxReorder) {
			ns = *last + 1
			t = time.Unix(0, ns).In(t.Location())
		}
		*last = ns
	} else {
		if len(u.last) >= u.limit {
			u.evict()
		}
		last = new(int64)
		*last = ns
		u.last[string(key)] = last
		u.prev.set(key, last)
	}
	if ns > u.newest {
		u.newest = ns
	}
	return t
}

func (u *uniqueTimes) evict() {
	u.prev.reset()
	cutoff := u.newest - int64(maxReorder)
	for k, v := range u.last {
		if *v < cutoff {
			delete(u.last, k)
		}
	}
	if len(u.last) > u.limit/2 {
		clear(u.last)
	}
}

// counterSet keeps running packet and byte counters per tag set, for
// Prometheus-style consumers that keep only the last value of a series.
// At most limit tag sets are kept (Prometheus would suffer long before);
// packets of further tag sets are not counted but their number is, in
// counter_overflows.
type counterSet struct {
	mu       sync.Mutex
	limit    int
	series   map[string]*counter
	overflow int64

	last lastHit[*counter]
}

type counter struct {
	tags           map[string]string
	packets, bytes int64
}

func newCounterSet(limit int) *counterSet {
	return &counterSet{limit: limit, series: make(map[string]*counter)}
}

func (c *counterSet) add(key []byte, tags []tagPair, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.last.get(key)
	if !ok {
		if s, ok = c.series[string(key)]; !ok {
			if len(c.series) >= c.limit {
				c.overflow++
				return
			}
			s = &counter{tags: make(map[string]string, len(tags))}
			for _, t := range tags {
				s.tags[t.key] = t.value
			}
			c.series[string(key)] = s
		}
		c.last.set(key, s)
	}
	s.packets++
	s.bytes += size
}

func (c *counterSet) overflows() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.overflow
}

// emit adds one counter metric per tag set. The accumulator may block, so
// it is called without the lock held.
func (c *counterSet) emit(acc telegraf.Accumulator, now time.Time) {
	type value struct {
		tags           map[string]string
		packets, bytes int64
	}
	c.mu.Lock()
	values := make([]value, 0, len(c.series))
	for _, s := range c.series {
		values = append(values, value{s.tags, s.packets, s.bytes})
	}
	c.mu.Unlock()
	for _, v := range values {
		acc.AddCounter(measurementCounters, map[string]any{
			"packets_total": v.packets,
			"bytes_total":   v.bytes,
		}, v.tags, now)
	}
}

// errorLimiter passes at most one error per interval to the accumulator and
// counts the others, so that a storm of bad messages does not flood the log.
type errorLimiter struct {
	mu         sync.Mutex
	every      time.Duration
	last       time.Time
	suppressed int
}

func (l *errorLimiter) add(acc telegraf.Accumulator, err error) {
	now := time.Now()
	l.mu.Lock()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	if n > 0 {
		err = fmt.Errorf("%w (%d similar errors suppressed before this one)", err, n)
	}
	acc.AddError(err)
}

// flush reports the errors suppressed since the last one reported, once the
// interval has passed.
func (l *errorLimiter) flush(acc telegraf.Accumulator) {
	now := time.Now()
	l.mu.Lock()
	if l.suppressed == 0 || now.Sub(l.last) < l.every {
		l.mu.Unlock()
		return
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	acc.AddError(fmt.Errorf("%d more errors reading NFLOG messages were suppressed; nflog_stats counts them", n))
}
