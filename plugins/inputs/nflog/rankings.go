//go:build linux

package nflog

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/influxdata/telegraf"

	"github.com/nflogr/telegraf-nflog/nflog"
	"github.com/nflogr/telegraf-nflog/plugins/inputs/nflog/spacesaving"
)

const (
	measurementTop = "nflog_top"

	defaultRankingSize = 10
	// maxRankingSize bounds "size": the points of a ranking per interval.
	maxRankingSize = 10_000
	// maxSummarySize bounds "summary_size", the counters (and memory) of a
	// ranking's summary.
	maxSummarySize = 1 << 20
)

// rankingConfig is one [[inputs.nflog.top]] table. Size and the masks are
// pointers because Telegraf's loader cannot preset defaults in the tables
// of a list: nil means the option was not set.
type rankingConfig struct {
	Name        string   `toml:"name"`
	Key         []string `toml:"key"`
	Size        *int     `toml:"size"`
	By          string   `toml:"by"`
	IPv4Mask    *int     `toml:"ipv4_mask"`
	IPv6Mask    *int     `toml:"ipv6_mask"`
	SummarySize int      `toml:"summary_size"`
}

// rankings are the plugin's top-talker rankings. add runs on the reading
// goroutine and feeds the active summary of each ranking; emit, from
// Gather, swaps in the spare ones under mu and reports the interval that
// ended from the summaries it took out, without holding mu, so the reader
// waits for a swap of pointers at most.
type rankings struct {
	mu   sync.Mutex // guards the rankings' active summaries and runs, and last
	list []*ranking
	// last are the previous packet's values, valid until the next flip.
	last      packetValues
	lastValid bool

	emitMu sync.Mutex // one emit at a time: it owns the spare tallies
}

// ranking is one [[inputs.nflog.top]]. Its summaries are of one of two
// key types, chosen by its key: byValue for keys of values only, byTags
// for keys with tags; the other is nil. (Concrete fields rather than an
// interface: through an interface method the packet's Layers would escape
// to the heap, an allocation a packet.)
type ranking struct {
	name    string
	size    int
	byBytes bool
	shape   *keyShape
	byValue *counts[valueKey]
	byTags  *counts[tagKey]
}

// counts are a ranking's summaries for keys of type K: active counts the
// current interval, and spare, empty, takes its place at the next flip.
//
// Consecutive packets of one key (a flood from one source, a burst to one
// port) are added to the summary as one weighted run: the run's key is
// compared with each packet's, and only a packet of another key, or the
// flip, adds the run. In Space-Saving a run of weights w1..wn of one key
// makes exactly the same counts and errors as one addition of their sum,
// and it spares a lookup in the summary's map per packet (BenchmarkAddRankings,
// same_key).
type counts[K comparable] struct {
	active, spare *spacesaving.Summary[K]
	top           []spacesaving.Entry[K] // reused by report
	tags          func(s *keyShape, ranking string, k *K) map[string]string

	run               K // the key of the packets not yet added to active
	runWeight, runAux uint64
	inRun             bool
}

func newCounts[K comparable](capacity, size int, tags func(*keyShape, string, *K) map[string]string) *counts[K] {
	return &counts[K]{
		active: spacesaving.New[K](capacity),
		spare:  spacesaving.New[K](capacity),
		top:    make([]spacesaving.Entry[K], 0, size),
		tags:   tags,
	}
}

func valueKeyTags(s *keyShape, ranking string, k *valueKey) map[string]string {
	return s.tags(ranking, k, nil)
}

func tagKeyTags(s *keyShape, ranking string, k *tagKey) map[string]string {
	return s.tags(ranking, &k.valueKey, &k.tags)
}

// add counts a packet of key k.
func (c *counts[K]) add(k K, weight, aux uint64) {
	if c.inRun && k == c.run {
		c.runWeight += weight
		c.runAux += aux
		return
	}
	if c.inRun {
		c.active.Add(c.run, c.runWeight, c.runAux)
	}
	c.run, c.runWeight, c.runAux, c.inRun = k, weight, aux, true
}

// flip adds the current run to the active summary and makes the spare
// one, empty, the active one.
func (c *counts[K]) flip() {
	if c.inRun {
		c.active.Add(c.run, c.runWeight, c.runAux)
		var zero K
		c.run, c.runWeight, c.runAux, c.inRun = zero, 0, 0, false // drop the key's strings
	}
	c.active, c.spare = c.spare, c.active
}

// report emits the ranking's entries of the interval that flip took out,
// then empties its summary: the top
// size entries by count whose guaranteed count (count minus its maximum
// over-count) is positive, ranked 1, 2, ..., then "other" with the rest,
// so that the points add up exactly to the packets and bytes counted.
func (c *counts[K]) report(rk *ranking, acc telegraf.Accumulator, now time.Time) {
	sum := c.spare
	defer sum.Reset()
	weight, aux := sum.Totals()
	totalPackets, totalBytes := int64(weight), int64(aux)
	if rk.byBytes {
		totalPackets, totalBytes = totalBytes, totalPackets
	}
	c.top = sum.Top(rk.size, c.top[:0])
	var packets, bytes int64
	rank := int64(0)
	for i := range c.top {
		e := &c.top[i]
		if e.Count <= e.Error {
			continue // possibly all over-count: not reported as a talker
		}
		rank++
		p, b := int64(e.Count), int64(e.Aux)
		if rk.byBytes {
			p, b = b, p
		}
		packets += p
		bytes += b
		acc.AddGauge(measurementTop, map[string]any{
			"packets":       p,
			"bytes":         b,
			"max_overcount": int64(e.Error),
			"rank":          rank,
		}, c.tags(rk.shape, rk.name, &e.Key), now)
	}
	acc.AddGauge(measurementTop, map[string]any{
		"packets":       totalPackets - packets,
		"bytes":         totalBytes - bytes,
		"max_overcount": int64(0),
		"rank":          int64(0),
	}, rk.shape.otherTags(rk.name), now)
	clear(c.top) // drop the keys' strings
}

// newRankings validates the [[inputs.nflog.top]] tables against the
// builder's options (the prefix_pattern's groups are key parts) and
// returns the rankings, or nil without "top".
func newRankings(enabled bool, tables []rankingConfig, b *builder) (*rankings, error) {
	switch {
	case enabled && len(tables) == 0:
		return nil, errors.New(`metrics includes "top" but there is no [[inputs.nflog.top]] table: add one per ranking, e.g. ` +
			`[[inputs.nflog.top]] with name = "src" and key = ["src"], or remove "top" from metrics`)
	case !enabled && len(tables) > 0:
		return nil, fmt.Errorf(`%d [[inputs.nflog.top]] table(s) but metrics does not include "top": add it, e.g. metrics = "counters,top", or remove the tables`, len(tables))
	case !enabled:
		return nil, nil
	}
	r := &rankings{}
	names := make(map[string]bool, len(tables))
	for i, t := range tables {
		rk, err := newRanking(t, b)
		if err != nil {
			if t.Name == "" {
				return nil, fmt.Errorf("[[inputs.nflog.top]] number %d: %w", i+1, err)
			}
			return nil, fmt.Errorf("[[inputs.nflog.top]] %q: %w", t.Name, err)
		}
		if names[rk.name] {
			return nil, fmt.Errorf(`two [[inputs.nflog.top]] tables are named %q: each ranking needs a name of its own (its "ranking" tag)`, rk.name)
		}
		names[rk.name] = true
		r.list = append(r.list, rk)
	}
	return r, nil
}

func newRanking(t rankingConfig, b *builder) (*ranking, error) {
	if t.Name == "" {
		return nil, errors.New(`"name" is required: it is the "ranking" tag of the ranking's points, e.g. name = "src"`)
	}
	if tagValue(t.Name) != t.Name || strings.TrimSpace(t.Name) != t.Name {
		return nil, fmt.Errorf("invalid name %q: use printable text without surrounding spaces", t.Name)
	}
	rk := &ranking{name: t.Name, size: defaultRankingSize}
	if t.Size != nil {
		rk.size = *t.Size
	}
	if rk.size < 1 || rk.size > maxRankingSize {
		return nil, fmt.Errorf("invalid size %d: use 1 to %d, the number of entries reported each interval", rk.size, maxRankingSize)
	}
	switch t.By {
	case "", "packets":
	case "bytes":
		rk.byBytes = true
	default:
		return nil, fmt.Errorf(`invalid by %q: use "packets" or "bytes", what the ranking counts`, t.By)
	}

	v4, v6 := b.nets.v4, b.nets.v6 // the plugin's masks, unless set here
	if t.IPv4Mask != nil {
		v4 = *t.IPv4Mask
	}
	if t.IPv6Mask != nil {
		v6 = *t.IPv6Mask
	}
	masks, err := checkMasks(v4, v6, "")
	if err != nil {
		return nil, err
	}

	parts, err := keyParts(t.Key, b.prefixNames)
	if err != nil {
		return nil, err
	}
	rk.shape = newKeyShape(parts, t.Key, masks)

	capacity := t.SummarySize
	switch {
	case capacity == 0:
		capacity = spacesaving.DefaultCapacity(rk.size)
	case capacity < rk.size || capacity > maxSummarySize:
		return nil, fmt.Errorf("invalid summary_size %d: use 0 (the default, a few times size) or %d (size) to %d counters",
			capacity, rk.size, maxSummarySize)
	}
	if len(rk.shape.tagNames) == 0 {
		rk.byValue = newCounts(capacity, rk.size, valueKeyTags)
	} else {
		rk.byTags = newCounts(capacity, rk.size, tagKeyTags)
	}
	return rk, nil
}

// keyParts validates "key". patternNames are the prefix_pattern's group
// names (SubexpNames, "" for unnamed groups).
func keyParts(key []string, patternNames []string) ([]keyPart, error) {
	if len(key) == 0 {
		return nil, errors.New(`"key" is required: list the parts that make an entry, e.g. key = ["src_net", "dport"]`)
	}
	groups := make(map[string]bool)
	for _, name := range patternNames {
		if name != "" {
			groups[name] = true
		}
	}
	parts := make([]keyPart, 0, len(key))
	seen := make(map[string]bool, len(key))
	tags := 0
	for _, name := range key {
		if seen[name] {
			return nil, fmt.Errorf("key part %q is listed twice in \"key\"", name)
		}
		seen[name] = true
		if p, ok := valuePartNames[name]; ok {
			if groups[name] {
				return nil, fmt.Errorf("key part %q is ambiguous: prefix_pattern has a group of that name; rename the group", name)
			}
			parts = append(parts, p)
			continue
		}
		if !slices.Contains(tagPartNames, name) && !groups[name] {
			return nil, fmt.Errorf("invalid key part %q: use any of %s", name, keyPartList(groups))
		}
		if name == "ranking" {
			return nil, fmt.Errorf(`key part %q would hide the "ranking" tag; rename the prefix_pattern group`, name)
		}
		tags++
		if tags > maxKeyTags {
			return nil, fmt.Errorf("too many tag parts in \"key\" %q: a key holds at most %d of %s", key, maxKeyTags, strings.Join(quoteAll(tagPartNames), ", "))
		}
		parts = append(parts, partTag)
	}
	if seen["src"] && seen["src_net"] || seen["dst"] && seen["dst_net"] {
		return nil, errors.New(`"key" has both an address and its network ("src" and "src_net", or "dst" and "dst_net"): the network adds nothing to the address; keep one`)
	}
	return parts, nil
}

func keyPartList(groups map[string]bool) string {
	names := make([]string, 0, len(valuePartNames)+len(tagPartNames)+len(groups))
	for name := range valuePartNames {
		names = append(names, name)
	}
	names = append(names, tagPartNames...)
	for name := range groups {
		names = append(names, name)
	}
	slices.Sort(names)
	s := strings.Join(quoteAll(names), ", ")
	if len(groups) == 0 {
		s += " (and the named groups of prefix_pattern)"
	}
	return s
}

func quoteAll(names []string) []string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return q
}

// packetValues are what the value parts of every key are made of: when a
// packet's equal the previous packet's, so is its key in every ranking of
// values only, which then adds it to its run without making the key
// (BenchmarkAddRankings, same_key).
type packetValues struct {
	src, dst     netip.Addr
	sport, dport uint16
	proto        uint8
	ip, ports    bool
}

// add counts the packet in every ranking. length is the packet's length as
// the counters count it.
func (r *rankings) add(b *builder, p *nflog.Packet, l *nflog.Layers, layersOK bool, length int64) {
	ip := layersOK && l.HasTransport()
	var pv packetValues
	if ip {
		pv = packetValues{l.Src, l.Dst, l.SrcPort, l.DstPort, l.Protocol, true, l.HasPorts}
	}
	size := uint64(max(length, 0))
	r.mu.Lock()
	same := r.lastValid && pv == r.last
	r.last, r.lastValid = pv, true
	for _, rk := range r.list {
		weight, aux := uint64(1), size
		if rk.byBytes {
			// A packet without a length (copy_mode = "meta") weighs
			// nothing; the summary still counts it in its totals.
			weight, aux = size, 1
		}
		if rk.byValue != nil {
			if same {
				rk.byValue.runWeight += weight
				rk.byValue.runAux += aux
				continue
			}
			rk.byValue.add(rk.shape.values(l, ip), weight, aux)
			continue
		}
		k := tagKey{valueKey: rk.shape.values(l, ip)}
		rk.shape.tagValues(b, p, &k.tags)
		rk.byTags.add(k, weight, aux)
	}
	r.mu.Unlock()
}

// emit reports the interval that ended: per ranking, its top entries and
// "other", each a gauge point of nflog_top at now.
func (r *rankings) emit(acc telegraf.Accumulator, now time.Time) {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	r.mu.Lock()
	r.lastValid = false // the runs end with the interval
	for _, rk := range r.list {
		if rk.byValue != nil {
			rk.byValue.flip()
		} else {
			rk.byTags.flip()
		}
	}
	r.mu.Unlock()
	for _, rk := range r.list {
		if rk.byValue != nil {
			rk.byValue.report(rk, acc, now)
		} else {
			rk.byTags.report(rk, acc, now)
		}
	}
}
