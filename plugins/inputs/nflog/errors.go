//go:build linux

package nflog

import (
	"fmt"
	"sync"
	"time"

	"github.com/influxdata/telegraf"
)

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
