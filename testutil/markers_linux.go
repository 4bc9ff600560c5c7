//go:build linux

package testutil

import (
	"testing"
	"time"
)

// SendMarkers sends one-byte UDP datagrams to dst from ns, one at a time,
// until arrived reports that one came through, waiting up to 500 ms after
// each and sending at most 50. It returns how many it sent.
//
// A marker logged by a rule of its own (a prefix, a port) after a flood
// says when a reader has handled everything logged before it: the kernel
// delivers a group's messages in order. One marker may itself be lost in an
// overrun, hence several. It fails the test when none arrives.
func SendMarkers(tb testing.TB, ns *NetNS, dst string, arrived func() bool) int {
	tb.Helper()
	for sent := 1; sent <= 50; sent++ {
		SendUDP(tb, ns, dst, []byte("m"), 1)
		deadline := time.Now().Add(500 * time.Millisecond)
		for time.Now().Before(deadline) {
			if arrived() {
				return sent
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	tb.Fatalf("no marker sent to %s arrived (50 sent, each waited for 500 ms)", dst)
	return 0
}
