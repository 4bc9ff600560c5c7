//go:build linux

package nflog

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/config"

	nftest "github.com/nflogr/telegraf-nflog/testutil"
)

// soakEnv turns the soak test on: NFLOG_SOAK=1 runs it for a minute,
// NFLOG_SOAK=10m for ten ("make soak").
const soakEnv = "NFLOG_SOAK"

// TestIntegrationSoak repeats, for the whole soak, rounds of: restart the
// plugin, flood it with a consumer that alternately keeps up, is slow and
// is stalled, then check that every packet sent was received or counted
// lost. Across the rounds the live heap, the resident set, the goroutines
// and the file descriptors must stay where they were after the first
// round.
func TestIntegrationSoak(t *testing.T) {
	// Without the variable (make test, CI) a short run of three rounds,
	// one of each consumer, checks that the soak itself works.
	v := os.Getenv(soakEnv)
	integration(t)
	nftest.RequireTools(t, "iptables")
	total, minRounds := time.Minute, 1
	switch v {
	case "":
		total, minRounds = 0, 3
	case "1":
	default:
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "%s", soakEnv)
		total = d
	}
	ns := nftest.NewNetNS(t)
	floodRules(t, ns)
	n := newPlugin(t, func(n *NFLOG) {
		n.Groups = []int{testGroup}
		n.Netns = ns.Path()
		n.ReadBufferSize = 256 << 10
		n.MaxReadBufferSize = 0
		n.FlushTimeout = config.Duration(10 * time.Millisecond)
		n.QueueThreshold = 64
		n.CopyRange = 0
	})
	require.NoError(t, n.Init())

	var (
		heap0, rss0       uint64
		goroutines0, fds0 int
		sentTotal, lost   int64
	)
	deadline := time.Now().Add(total)
	for round := 0; round < minRounds || time.Now().Before(deadline); round++ {
		acc := newFloodAccumulator()
		switch round % 3 {
		case 1:
			acc.delay = 50 * time.Microsecond
		case 2:
			acc.gate = make(chan struct{})
		}
		require.NoError(t, n.Start(acc))
		before := statsOf(t, n) // counters start at zero with each reader
		require.Zero(t, before["packets_received_total"]+before["packets_lost_total"])

		sent, err := nftest.Flood(t.Context(), ns, "127.0.0.1:9", 512, 300_000, 3*time.Second)
		require.NoError(t, err)
		if acc.gate != nil {
			close(acc.gate)
		}
		markers := sendMarkers(t, ns, acc)
		st := statsOf(t, n)
		n.Stop()
		require.Equal(t, int64(sent+markers), st["packets_received_total"]+st["packets_lost_total"], "round %d", round)
		require.Equal(t, acc.packets.Load(), st["packets_received_total"], "round %d", round)
		require.Zero(t, st["decode_errors_total"])
		sentTotal += int64(sent + markers)
		lost += st["packets_lost_total"]

		heap, rss := memory(t)
		if round == 0 {
			heap0, rss0 = heap, rss
			goroutines0, fds0 = runtime.NumGoroutine(), openFDs(t)
			continue
		}
		require.Less(t, int64(heap)-int64(heap0), int64(8<<20), "round %d: heap", round)
		require.Less(t, int64(rss)-int64(rss0), int64(32<<20), "round %d: RSS", round)
		require.LessOrEqual(t, runtime.NumGoroutine(), goroutines0, "round %d: goroutines", round)
		require.Equal(t, fds0, openFDs(t), "round %d: file descriptors", round)
		if round%10 == 0 {
			t.Logf("round %d: %d packets sent, %d counted lost; heap %.1f MiB, RSS %.1f MiB",
				round, sentTotal, lost, mib(heap), mib(rss))
		}
	}
	t.Logf("soak of %v: %d packets sent, %d counted lost, every one accounted for", total, sentTotal, lost)
}
