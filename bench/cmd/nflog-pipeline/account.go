package main

// The pure part of the pipeline benchmark: what the files a pipeline writes
// say (points, statistics), the accounting of every logged packet, and the
// bisection of the zero-loss rate. No I/O, so that it is tested without
// root (account_test.go).

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
)

// losses are the packets a pipeline's own figures count as lost.
type losses struct {
	// KernelLost: nflog_stats packets_lost_total, the messages missing
	// from the kernel's sequence numbers (socket overruns).
	KernelLost uint64 `json:"kernel_lost"`
	// DecodeErrors: nflog_stats decode_errors_total.
	DecodeErrors uint64 `json:"decode_errors"`
	// NotEmitted: nflog_stats packet_metrics_not_emitted_total (0 here: no
	// packet_metrics_per_second).
	NotEmitted uint64 `json:"not_emitted"`
	// OutputDropped: inputs.internal's internal_write metrics_dropped of
	// the points output (its metric_buffer_limit overflowed).
	OutputDropped uint64 `json:"output_dropped"`
	// AggregatorDropped: internal_aggregate metrics_dropped (metrics
	// outside the aggregator's period and grace).
	AggregatorDropped uint64 `json:"aggregator_dropped"`
}

func (l losses) total() uint64 {
	return l.KernelLost + l.DecodeErrors + l.NotEmitted + l.OutputDropped + l.AggregatorDropped
}

// account is where every packet the NFLOG rule logged went.
type account struct {
	Logged    uint64 `json:"logged"`    // the rule's packet counter
	Delivered uint64 `json:"delivered"` // packets in the points file: one line each, or the counters' sum
	Losses    losses `json:"losses"`
	// Buffered: internal_write buffer_size of the points output in
	// Telegraf's last report (metrics not written yet).
	Buffered uint64 `json:"buffered"`
	// HaveStats: Telegraf reported internal_write for the points output.
	HaveStats bool `json:"have_stats"`
}

// unaccounted is what neither the points nor a counted loss explain:
// logged - delivered - counted losses (negative if more were delivered).
func (a account) unaccounted() int64 {
	return int64(a.Logged) - int64(a.Delivered) - int64(a.Losses.total())
}

// balanced: nothing in flight and the sum exact.
func (a account) balanced() bool {
	return a.HaveStats && a.Buffered == 0 && a.unaccounted() == 0
}

// lossFree: every logged packet delivered.
func (a account) lossFree() bool {
	return a.balanced() && a.Losses.total() == 0
}

// line is one line of line protocol, split (escapes are kept, which is
// enough for the names, tags and integer fields the harness reads).
type line struct {
	name   string
	series string // measurement and tags
	tags   map[string]string
	fields map[string]string
}

// parseLine splits a line of line protocol: "name,tags fields [time]".
func parseLine(s string) (line, bool) {
	s = strings.TrimRight(s, "\r\n")
	sp := indexUnescaped(s, ' ')
	if sp <= 0 {
		return line{}, false
	}
	l := line{series: s[:sp], tags: map[string]string{}, fields: map[string]string{}}
	parts := splitUnescaped(l.series, ',')
	l.name = parts[0]
	for _, kv := range parts[1:] {
		if k, v, ok := strings.Cut(kv, "="); ok {
			l.tags[k] = v
		}
	}
	rest := s[sp+1:]
	// The fields end at the last space outside quotes (the timestamp
	// follows), or at the end.
	end, inQuote := len(rest), false
	for i := 0; i < len(rest); i++ {
		switch c := rest[i]; {
		case c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case c == ' ' && !inQuote:
			end = i
		}
	}
	inQuote = false
	start := 0
	for i := 0; i <= end; i++ {
		if i < end {
			c := rest[i]
			if c == '\\' {
				i++
				continue
			}
			if c == '"' {
				inQuote = !inQuote
			}
			if c != ',' || inQuote {
				continue
			}
		}
		if k, v, ok := strings.Cut(rest[start:i], "="); ok {
			l.fields[k] = v
		}
		start = i + 1
	}
	return l, len(l.fields) > 0
}

func indexUnescaped(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == c {
			return i
		}
	}
	return -1
}

func splitUnescaped(s string, c byte) []string {
	var out []string
	for {
		i := indexUnescaped(s, c)
		if i < 0 {
			return append(out, s)
		}
		out = append(out, s[:i])
		s = s[i+1:]
	}
}

// intField returns an integer field ("12i", "12u", "12" or "12.0").
func (l line) intField(name string) (uint64, bool) {
	v, ok := l.fields[name]
	if !ok {
		return 0, false
	}
	v = strings.TrimRight(v, "iu")
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		return n, true
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
		return uint64(f), true
	}
	return 0, false
}

// pointCounter counts the packets in the points file as it grows.
type pointCounter struct {
	// measurement: the per-packet points' name ("nflog", "ulogd").
	measurement string
	// counter: in counters mode, the measurement and field whose values
	// count packets, and whether they are running totals (the plugin's
	// nflog_counters packets_total: the last value per series counts) or
	// per period (basicstats' len_count: every value counts).
	counterName, counterField string
	running                   bool

	partial []byte
	lines   uint64            // lines of measurement (per-packet mode)
	counted uint64            // lines of counterName
	last    map[string]uint64 // running: last value per series
	sum     uint64            // per period: the sum
	other   uint64            // lines of anything else
}

// feed takes the next bytes of the file.
func (c *pointCounter) feed(b []byte) {
	if len(c.partial) > 0 {
		b = append(c.partial, b...)
		c.partial = nil
	}
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		c.add(b[:i])
		b = b[i+1:]
	}
	if len(b) > 0 {
		c.partial = append([]byte(nil), b...)
	}
}

func (c *pointCounter) add(l []byte) {
	if c.measurement != "" && len(l) > len(c.measurement) && string(l[:len(c.measurement)]) == c.measurement &&
		(l[len(c.measurement)] == ',' || l[len(c.measurement)] == ' ') {
		c.lines++
		return
	}
	if c.counterName != "" && bytes.HasPrefix(l, []byte(c.counterName)) {
		pl, ok := parseLine(string(l))
		if ok && pl.name == c.counterName {
			if n, ok := pl.intField(c.counterField); ok {
				c.counted++
				if c.running {
					if c.last == nil {
						c.last = map[string]uint64{}
					}
					c.last[pl.series] = n
				} else {
					c.sum += n
				}
				return
			}
		}
	}
	c.other++
}

// delivered is the packets the points so far stand for.
func (c *pointCounter) delivered() uint64 {
	n := c.lines + c.sum
	for _, v := range c.last {
		n += v
	}
	return n
}

// stats is what the stats file says: the last report of each figure.
type stats struct {
	haveNflog bool
	losses    losses
	received  uint64 // nflog_stats packets_received_total
	haveWrite bool
	written   uint64 // internal_write metrics_written of the points output
	buffered  uint64
	lines     int
}

// parseStats reads the stats file: nflog_stats, internal_write (of the
// output with alias pointsAlias) and internal_aggregate lines; each is
// cumulative, so the last one counts.
func parseStats(b []byte, pointsAlias string) stats {
	var s stats
	aggs := map[string]uint64{}
	for _, raw := range strings.Split(string(b), "\n") {
		l, ok := parseLine(raw)
		if !ok {
			continue
		}
		s.lines++
		switch l.name {
		case "nflog_stats":
			if _, ok := l.fields["packets_received_total"]; !ok {
				continue // the gauge read_buffer_bytes comes alone
			}
			s.haveNflog = true
			s.received, _ = l.intField("packets_received_total")
			s.losses.KernelLost, _ = l.intField("packets_lost_total")
			s.losses.DecodeErrors, _ = l.intField("decode_errors_total")
			s.losses.NotEmitted, _ = l.intField("packet_metrics_not_emitted_total")
		case "internal_write":
			if l.tags["alias"] != pointsAlias {
				continue
			}
			s.haveWrite = true
			s.losses.OutputDropped, _ = l.intField("metrics_dropped")
			s.written, _ = l.intField("metrics_written")
			s.buffered, _ = l.intField("buffer_size")
		case "internal_aggregate":
			n, _ := l.intField("metrics_dropped")
			aggs[l.series] = n
		}
	}
	for _, n := range aggs {
		s.losses.AggregatorDropped += n
	}
	return s
}

// seqCounter counts the sequence numbers missing from ulogd's JSON lines
// ("oob.seq.local": N, numbered from 0 by the kernel for the group):
// max+1 - distinct. It is the harness's check of what the peer pipeline
// lost in the kernel, which ulogd itself does not count.
type seqCounter struct {
	seen  []uint64
	max   uint64
	lines uint64 // lines with a sequence number
}

var seqKey = []byte(`"oob.seq.local":`)

// add takes one line of the JSON file.
func (c *seqCounter) add(l []byte) {
	j := bytes.Index(l, seqKey)
	if j < 0 {
		return
	}
	v := bytes.TrimLeft(l[j+len(seqKey):], " ")
	k := 0
	for k < len(v) && v[k] >= '0' && v[k] <= '9' {
		k++
	}
	n, err := strconv.ParseUint(string(v[:k]), 10, 64)
	if err != nil {
		return
	}
	c.lines++
	c.seen = append(c.seen, n)
	c.max = max(c.max, n)
}

// missing is the count of sequence numbers below the highest seen that no
// line has; ok is false when no line had one (seq_local not set).
func (c *seqCounter) missing() (n uint64, ok bool) {
	if c.lines == 0 {
		return 0, false
	}
	s := slices.Clone(c.seen)
	slices.Sort(s)
	return c.max + 1 - uint64(len(slices.Compact(s))), true
}

// bisector finds the highest rate with no loss in (0, hi] in a bounded
// number of steps: each step tries the middle of the interval between the
// highest rate that passed (lo, 0 at first) and the lowest that failed (hi,
// the sender's full rate at first).
type bisector struct {
	lo, hi float64
	left   int
	tried  []bisectStep
}

type bisectStep struct {
	Rate float64 `json:"rate"`
	Pass bool    `json:"pass"`
}

func newBisector(hi float64, steps int) *bisector {
	return &bisector{hi: hi, left: steps}
}

// next is the rate to try, false when the steps are used up.
func (b *bisector) next() (float64, bool) {
	if b.left <= 0 || b.hi <= 0 {
		return 0, false
	}
	return (b.lo + b.hi) / 2, true
}

// record takes the outcome of a step at rate.
func (b *bisector) record(rate float64, pass bool) {
	b.left--
	b.tried = append(b.tried, bisectStep{Rate: rate, Pass: pass})
	if pass {
		b.lo = max(b.lo, rate)
	} else {
		b.hi = min(b.hi, rate)
	}
}

// result is the highest rate that passed (0: none did, the zero-loss rate
// is below the lowest tried, hi).
func (b *bisector) result() (lo, hi float64) { return b.lo, b.hi }
