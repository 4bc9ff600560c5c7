//go:build linux

package nflog

import (
	"sync"
	"time"

	"github.com/influxdata/telegraf"
)

const measurementCounters = "nflog_counters"

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
