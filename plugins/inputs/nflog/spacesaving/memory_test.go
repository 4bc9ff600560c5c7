package spacesaving

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// heapInUse returns the bytes of live heap objects after a full collection.
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// splitmix64 is the SplitMix64 generator: distinct outputs for distinct states.
func splitmix64(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	z := *state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// A flood of random keys, each new, must not grow the summary beyond what it
// holds after 1,000 keys: every such key deletes one map entry and inserts
// another, and a Go map that kept the deleted slots (tombstones) would grow.
// The heap is measured for the whole process: no test in this package runs in
// parallel.
func TestMemoryBoundedUnderFlood(t *testing.T) {
	flood := 10_000_000
	if testing.Short() {
		flood = 1_000_000
	}
	for _, capacity := range []int{1, 8, 9, DefaultCapacity(10), 1000, 5000} {
		t.Run(fmt.Sprintf("capacity=%d", capacity), func(t *testing.T) {
			s := New[flowKey](capacity)
			var next uint64 // the flood's keys: a sequence hashed, cheap enough for -race
			for range 1000 {
				s.Add(keyOf(splitmix64(&next)), 1, 64)
			}
			before := heapInUse()
			n := flood
			if capacity != DefaultCapacity(10) {
				n = flood / 50 // the other sizes, for the other table layouts
			}
			for range n {
				s.Add(keyOf(splitmix64(&next)), 1, 64)
			}
			after := heapInUse()
			require.Equal(t, min(capacity, 1000+n), s.Len())
			const slack = 16 << 10 // runtime noise seen: up to 6 KiB
			t.Logf("capacity %d: heap %d bytes after 1,000 keys, %d after %d more", capacity, before, after, n)
			require.LessOrEqual(t, after, before+slack,
				"capacity %d: heap grew from %d to %d bytes over a flood of %d keys", capacity, before, after, n)
			runtime.KeepAlive(s)
		})
	}
}
