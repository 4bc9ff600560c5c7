package nflog_test

import (
	"bytes"
	"runtime"
	"testing"
	"time"
)

// waitBlockedReads waits, bounded, until n goroutines are parked inside a
// Reader method: blocked on the socket (IO wait), or waiting for the read
// that holds the receive lock. It replaces "sleep and hope they block":
// a test of what happens to blocked reads must know they are blocked.
func waitBlockedReads(t testing.TB, n int) {
	t.Helper()
	if !blockedReadsWithin(n, 10*time.Second) {
		t.Fatalf("%d goroutines blocked in a Reader method after 10s, want %d", blockedReads(), n)
	}
}

// blockedReadsWithin is waitBlockedReads for a goroutine other than the
// test's: it reports instead of failing.
func blockedReadsWithin(n int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for blockedReads() < n {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// blockedReads counts the goroutines whose stack is inside a Reader method
// and whose state is a wait (not running or runnable).
func blockedReads() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	count := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		header, _, _ := bytes.Cut(g, []byte("\n"))
		if bytes.Contains(header, []byte("[running")) || bytes.Contains(header, []byte("[runnable")) {
			continue
		}
		if bytes.Contains(g, []byte("nflog.(*Reader).")) {
			count++
		}
	}
	return count
}
