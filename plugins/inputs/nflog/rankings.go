//go:build linux

package nflog

import (
	"errors"
	"fmt"
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
	mu   sync.Mutex // guards each ranking's active tally
	list []*ranking

	emitMu sync.Mutex // one emit at a time: it owns the spare tallies
}

// ranking is one [[inputs.nflog.top]].
type ranking struct {
	name    string
	size    int
	byBytes bool
	shape   *keyShape

	active, spare *tally
	top           []spacesaving.Entry[rankKey] // reused by emit
}

// tally is one interval of a ranking.
type tally struct {
	sum *spacesaving.Summary[rankKey]
	// weightless counts packets that carry no weight in the summary: of
	// no length, in a ranking by bytes. The summary cannot count them, yet
	// they are packets of the interval, so they go to "other".
	weightless int64
}

func newTally(capacity int) *tally {
	return &tally{sum: spacesaving.New[rankKey](capacity)}
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
	rk.active, rk.spare = newTally(capacity), newTally(capacity)
	rk.top = make([]spacesaving.Entry[rankKey], 0, rk.size)
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

// add counts the packet in every ranking. length is the packet's length as
// the counters count it.
func (r *rankings) add(b *builder, p *nflog.Packet, l *nflog.Layers, layersOK bool, length int64) {
	ip := layersOK && l.HasTransport()
	size := uint64(max(length, 0))
	r.mu.Lock()
	for _, rk := range r.list {
		k := rk.shape.key(b, p, l, ip)
		t := rk.active
		switch {
		case !rk.byBytes:
			t.sum.Add(k, 1, size)
		case size > 0:
			t.sum.Add(k, size, 1)
		default:
			t.weightless++
		}
	}
	r.mu.Unlock()
}

// emit reports the interval that ended: per ranking, its top entries and
// "other", each a gauge point of nflog_top at now.
func (r *rankings) emit(acc telegraf.Accumulator, now time.Time) {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	r.mu.Lock()
	for _, rk := range r.list {
		rk.active, rk.spare = rk.spare, rk.active
	}
	r.mu.Unlock()
	for _, rk := range r.list {
		rk.report(acc, rk.spare, now)
		rk.spare.sum.Reset()
		rk.spare.weightless = 0
	}
}

// report emits the ranking's entries of the interval in t: the top size
// entries by count whose guaranteed count (count minus its maximum
// over-count) is positive, ranked 1, 2, ..., then "other" with the rest,
// so that the points add up exactly to the packets and bytes counted.
func (rk *ranking) report(acc telegraf.Accumulator, t *tally, now time.Time) {
	weight, aux := t.sum.Totals()
	totalPackets, totalBytes := int64(aux)+t.weightless, int64(weight)
	if !rk.byBytes {
		totalPackets, totalBytes = int64(weight), int64(aux)
	}
	rk.top = t.sum.Top(rk.size, rk.top[:0])
	var packets, bytes int64
	rank := int64(0)
	for _, e := range rk.top {
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
		}, rk.shape.tags(rk.name, e.Key), now)
	}
	acc.AddGauge(measurementTop, map[string]any{
		"packets":       totalPackets - packets,
		"bytes":         totalBytes - bytes,
		"max_overcount": int64(0),
		"rank":          int64(0),
	}, rk.shape.otherTags(rk.name), now)
}
