package spacesaving

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkAdd measures Add per packet with keys like the plugin's (an address
// and a port), ranking by packets (weight 1) or by bytes (varied weights),
// for a flood of random keys (every key new: a replacement per packet) and
// for Zipf-distributed keys (s = 1.1 over 100,000 keys: about half hits), and
// for a flood from one key (the flood benchmark's traffic).
func BenchmarkAdd(b *testing.B) {
	const streamLen = 1 << 20
	r := rand.New(rand.NewPCG(1, 1))
	zipf := rand.NewZipf(r, 1.1, 1, 100_000-1)
	streams := []struct {
		name string
		key  func() flowKey
	}{
		{"one", func() flowKey { return keyOf(1) }},
		{"random", func() flowKey { return keyOf(r.Uint64()) }},
		{"zipf", func() flowKey { return keyOf(zipf.Uint64()) }},
	}
	weights := []struct {
		name   string
		weight func() uint64
	}{
		{"packets", func() uint64 { return 1 }},
		{"bytes", func() uint64 { return byteWeight(r) }},
	}
	for _, by := range weights {
		for _, st := range streams {
			keys := make([]flowKey, streamLen)
			sizes := make([]uint64, streamLen)
			for i := range keys {
				keys[i], sizes[i] = st.key(), by.weight()
			}
			for _, capacity := range []int{DefaultCapacity(10), 1000} {
				b.Run(fmt.Sprintf("by=%s/keys=%s/capacity=%d", by.name, st.name, capacity), func(b *testing.B) {
					s := New[flowKey](capacity)
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						if by.name == "packets" {
							s.Add(keys[i], 1, sizes[i])
						} else {
							s.Add(keys[i], sizes[i], 1)
						}
						i = (i + 1) & (streamLen - 1)
					}
				})
			}
		}
	}
}

// BenchmarkTop measures the per-interval report: the top 10 of a full summary.
func BenchmarkTop(b *testing.B) {
	for _, capacity := range []int{DefaultCapacity(10), 1000} {
		b.Run(fmt.Sprintf("capacity=%d", capacity), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 1))
			s := New[flowKey](capacity)
			for range 10 * capacity {
				s.Add(keyOf(r.Uint64N(uint64(2*capacity))), byteWeight(r), 1)
			}
			dst := make([]Entry[flowKey], 0, 10)
			b.ReportAllocs()
			for b.Loop() {
				dst = s.Top(10, dst[:0])
			}
		})
	}
}
