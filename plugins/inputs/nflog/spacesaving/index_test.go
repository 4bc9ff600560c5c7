package spacesaving

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// The index against a Go map under the churn Space-Saving makes (one key out,
// another in), in tables small enough that probe sequences wrap around the
// end and backward-shift deletion moves entries across it.
func TestIndexFindsEveryMonitoredKey(t *testing.T) {
	for _, capacity := range []int{1, 2, 3, 4, 7, 64} {
		r := rand.New(rand.NewPCG(uint64(capacity), 3))
		x := newIndex(capacity)
		require.GreaterOrEqual(t, len(x.slots), 2*capacity)
		counters := make([]counter[uint64], capacity)
		where := map[uint64]int32{} // the truth: key -> counter
		for i := range counters {
			k := r.Uint64N(1 << 20)
			for where[k] != 0 || k == 0 {
				k = r.Uint64N(1 << 20)
			}
			counters[i] = counter[uint64]{key: k, hash: hashOf(&x, k)}
			x.insert(counters[i].hash, int32(i))
			where[k] = int32(i) + 1
		}
		for i := range 5_000 {
			c := int32(r.IntN(capacity))
			old := counters[c]
			k := r.Uint64N(1 << 20)
			if where[k] != 0 || k == 0 {
				continue
			}
			x.remove(old.hash, c)
			delete(where, old.key)
			counters[c] = counter[uint64]{key: k, hash: hashOf(&x, k)}
			x.insert(counters[c].hash, c)
			where[k] = c + 1

			require.Equal(t, int32(-1), find(&x, counters, old.key, old.hash), "capacity %d: removed key %d still found", capacity, old.key)
			if capacity > 8 && i%50 != 0 {
				continue
			}
			for key, ref := range where {
				require.Equal(t, ref-1, find(&x, counters, key, hashOf(&x, key)), "capacity %d: key %d", capacity, key)
			}
		}
		used := 0
		for _, sl := range x.slots {
			if sl.ref != 0 {
				used++
			}
		}
		require.Equal(t, capacity, used, "one slot per key, no leftovers")
	}
}
