//go:build linux

package nflog

import "time"

const (
	// maxReorder bounds the time-bumping of uniqueTimes: a packet up to this
	// much older than the last one of its series (packets logged on several
	// CPUs arrive slightly out of order) is moved just after it; an older
	// one means the clock was stepped back and keeps its own time.
	maxReorder = time.Second
	// uniqueTimesLimit bounds the series remembered by uniqueTimes.
	uniqueTimesLimit = 8192
)

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
