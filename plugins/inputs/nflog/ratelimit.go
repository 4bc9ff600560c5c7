//go:build linux

package nflog

import (
	"fmt"
	"sync/atomic"
	"time"
)

// maxPacketMetricsPerSecond bounds packet_metrics_per_second: far above
// what any output takes, low enough that the bucket's arithmetic stays exact.
const maxPacketMetricsPerSecond = 100_000_000

// packetLimiter is the token bucket of packet_metrics_per_second: it lets
// through rate packet metrics a second, and bursts of up to one second's
// worth after a quiet spell. It starts full. Only the reading goroutine
// calls allow, so the bucket needs no lock; the count of packet metrics
// not emitted is read by Gather and is atomic.
//
// It is hand-written rather than golang.org/x/time/rate, which is not a
// dependency of the module and takes a mutex on every call.
type packetLimiter struct {
	rate   float64 // tokens a second
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time // time.Now; tests replace it

	skipped atomic.Int64
}

// newPacketLimiter returns the limiter for packet_metrics_per_second, or
// nil when it is 0 (off).
func newPacketLimiter(perSecond int) (*packetLimiter, error) {
	switch {
	case perSecond == 0:
		return nil, nil
	case perSecond < 0 || perSecond > maxPacketMetricsPerSecond:
		return nil, fmt.Errorf("invalid packet_metrics_per_second %d: use 0 (no limit) to %d", perSecond, maxPacketMetricsPerSecond)
	}
	r := float64(perSecond)
	return &packetLimiter{rate: r, burst: r, tokens: r, now: time.Now}, nil
}

// allow takes a token for one packet metric, or counts the metric as not
// emitted when the bucket is empty. Time is the process's monotonic clock,
// also when replaying a capture: the limit protects the outputs, which see
// metrics at the speed they are made.
func (l *packetLimiter) allow() bool {
	now := l.now()
	if l.last.IsZero() {
		l.last = now
	}
	if d := now.Sub(l.last); d > 0 {
		l.tokens = min(l.burst, l.tokens+d.Seconds()*l.rate)
		l.last = now
	}
	if l.tokens >= 1 {
		l.tokens--
		return true
	}
	l.skipped.Add(1)
	return false
}

// notEmitted is the number of packet metrics the limit held back since the
// start; 0 without a limit.
func (l *packetLimiter) notEmitted() int64 {
	if l == nil {
		return 0
	}
	return l.skipped.Load()
}
