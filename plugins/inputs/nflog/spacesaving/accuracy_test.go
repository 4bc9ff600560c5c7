package spacesaving

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// rankOfKey inverts keyOf for keys below 2^24.
func rankOfKey(k flowKey) uint64 {
	a := k.addr.As4()
	return uint64(a[1])<<16 | uint64(a[2])<<8 | uint64(a[3])
}

// With the default capacity, a Zipf-distributed stream over 100,000 keys
// (skew s = 1.1, and the flatter, harder s = 1.01) yields the true top 10 in
// Top(10), ranked by packets or by bytes, and every count within its stated
// error, compared against an exact count.
func TestAccuracyOnZipfStream(t *testing.T) {
	const (
		packets = 1_000_000
		keys    = 100_000
		k       = 10
	)
	cases := []struct {
		name   string
		skew   float64
		weight func(r *rand.Rand) uint64
	}{
		{"by packets, s=1.1", 1.1, unitWeight},
		{"by bytes, s=1.1", 1.1, byteWeight},
		{"by packets, s=1.01", 1.01, unitWeight},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(2005, 11))
			zipf := rand.NewZipf(r, tc.skew, 1, keys-1) // rank i with probability ∝ (1+i)^-skew
			s := New[flowKey](DefaultCapacity(k))
			trueWeight := make([]uint64, keys) // by rank
			trueAux := make([]uint64, keys)
			var n uint64
			for range packets {
				rank := zipf.Uint64()
				w := tc.weight(r)
				aux := uint64(1) // bytes ranked: aux counts packets
				if w == 1 {
					aux = byteWeight(r)
				}
				s.Add(keyOf(rank), w, aux)
				trueWeight[rank] += w
				trueAux[rank] += aux
				n += w
			}

			ranks := make([]uint64, keys)
			for i := range ranks {
				ranks[i] = uint64(i)
			}
			slices.SortFunc(ranks, func(a, b uint64) int { return cmp.Compare(trueWeight[b], trueWeight[a]) })
			trueTop := ranks[:k]

			top := s.Top(k, nil)
			reported := make(map[uint64]bool, k)
			for _, e := range top {
				reported[rankOfKey(e.Key)] = true
			}
			for i, rank := range trueTop {
				require.True(t, reported[rank], "the true #%d (key %d, weight %d) is not in Top(%d): %+v", i+1, rank, trueWeight[rank], k, top)
			}

			// Every counter, reported or not, is within its stated error.
			var maxTopError uint64
			counters := s.Top(s.Len(), nil)
			for _, e := range counters {
				rank := rankOfKey(e.Key)
				require.LessOrEqual(t, trueWeight[rank], e.Count, "%+v", e)
				require.GreaterOrEqual(t, trueWeight[rank], e.Count-e.Error, "%+v", e)
				require.GreaterOrEqual(t, trueAux[rank], e.Aux-e.AuxError, "%+v", e)
				require.LessOrEqual(t, e.Error*uint64(s.Capacity()), n, "Error <= N/capacity: %+v", e)
			}
			for _, e := range top {
				maxTopError = max(maxTopError, e.Error)
			}
			t.Logf("capacity %d, N %d: N/capacity %d, min Count %d; the true #%d weighs %d, #%d %d; largest Error in Top(%d): %d",
				s.Capacity(), n, n/uint64(s.Capacity()), counters[len(counters)-1].Count,
				k, trueWeight[trueTop[k-1]], k+1, trueWeight[ranks[k]], k, maxTopError)
		})
	}
}
