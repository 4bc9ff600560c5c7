//go:build linux

package nflog

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/testutil"

	"github.com/nflogr/telegraf-nflog/nflog"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func (l *packetLimiter) allowN(n int) (ok int) {
	for range n {
		if l.allow() {
			ok++
		}
	}
	return ok
}

func TestPacketLimiterTokenBucket(t *testing.T) {
	l, err := newPacketLimiter(1000)
	require.NoError(t, err)
	clock := &fakeClock{t: t0}
	l.now = clock.now

	// It starts full: one second's worth passes at once.
	require.Equal(t, 1000, l.allowN(1500))
	require.Equal(t, int64(500), l.notEmitted())
	// Then 1000 a second.
	clock.add(250 * time.Millisecond)
	require.Equal(t, 250, l.allowN(1000))
	clock.add(time.Millisecond)
	require.Equal(t, 1, l.allowN(10))
	// A quiet spell refills it up to the burst, not beyond.
	clock.add(time.Hour)
	require.Equal(t, 1000, l.allowN(5000))
	// Time going backwards (it cannot with the monotonic clock, but a
	// test clock can) gives no tokens.
	clock.add(-time.Minute)
	require.Equal(t, 0, l.allowN(10))
	require.Equal(t, int64(500+750+9+4000+10), l.notEmitted())

	// Over a long run, at most rate × elapsed + burst pass.
	l, err = newPacketLimiter(100)
	require.NoError(t, err)
	l.now = clock.now
	passed := 0
	for range 10000 {
		clock.add(time.Millisecond) // 1000 packets a second offered
		passed += l.allowN(1)
	}
	require.LessOrEqual(t, passed, 100*10+100)
	require.GreaterOrEqual(t, passed, 100*10)
	require.Equal(t, int64(10000-passed), l.notEmitted())
}

func TestPacketLimiterOff(t *testing.T) {
	l, err := newPacketLimiter(0)
	require.NoError(t, err)
	require.Nil(t, l)
	require.Zero(t, l.notEmitted())
	_, err = newPacketLimiter(maxPacketMetricsPerSecond + 1)
	require.ErrorContains(t, err, "packet_metrics_per_second")
}

// Over the limit, packet metrics are not emitted but counted; counters,
// rankings and packets_received see every packet.
func TestPacketMetricsRateLimit(t *testing.T) {
	const sent, limit = 50, 10
	var msgs []message
	for i := range sent {
		msgs = append(msgs, msg(nflog.FamilyIPv4, 5, recorded, hdrAttr(0x0800, nflog.HookInput),
			tsAttr(t0.Add(time.Duration(i)*time.Microsecond)), prefixAttr("DROP:wan"),
			payloadAttr(ipv4("10.0.0.1", "10.0.0.2", 17, 28, udp(1, 2, 0)))))
	}
	n := newPlugin(t, func(n *NFLOG) {
		withTop("packets,counters,top", rankingConfig{Name: "src", Key: []string{"src"}})(n)
		n.PacketMetricsPerSecond = limit
	})
	fromCapture(n, capture(t, msgs...))
	require.NoError(t, n.Init())
	clock := &fakeClock{t: t0}
	n.build.limit.now = clock.now // time stands still: only the burst passes
	var acc testutil.Accumulator
	require.NoError(t, n.Start(&acc))
	t.Cleanup(n.Stop)
	select {
	case <-n.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the capture was not read to its end within 10s")
	}
	require.Equal(t, uint64(limit), acc.NMetrics(), "packet metrics")

	acc.ClearMetrics()
	require.NoError(t, n.Gather(&acc))
	st := statsFields(&acc)
	require.Equal(t, int64(sent), st["packets_received_total"])
	require.Equal(t, int64(sent-limit), st["packet_metrics_not_emitted_total"])
	require.Equal(t, int64(sent-limit), n.stats.notEmitted.Get())
	packets, _ := countersSums(&acc)
	require.Equal(t, int64(sent), packets)
	top, _ := topSums(&acc)
	require.Equal(t, int64(sent), top["src"])
}
