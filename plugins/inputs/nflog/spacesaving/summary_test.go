package spacesaving

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// flowKey is a key like the plugin's: an address and a port.
type flowKey struct {
	addr netip.Addr
	port uint16
}

func keyOf(i uint64) flowKey {
	return flowKey{netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), uint16(i >> 24)}
}

// exactCount is the truth a summary is checked against.
type exactCount struct {
	weight, aux map[flowKey]uint64
	n, nAux     uint64
}

func newExactCount() *exactCount {
	return &exactCount{weight: map[flowKey]uint64{}, aux: map[flowKey]uint64{}}
}

func (e *exactCount) add(k flowKey, weight, aux uint64) {
	e.weight[k] += weight
	e.aux[k] += aux
	e.n += weight
	e.nAux += aux
}

// addBoth adds to the summary and to the exact count.
func addBoth(s *Summary[flowKey], e *exactCount, k flowKey, weight, aux uint64) {
	s.Add(k, weight, aux)
	e.add(k, weight, aux)
}

func all(s *Summary[flowKey]) []Entry[flowKey] { return s.Top(s.Len(), nil) }

func TestNewRejectsCapacityBelowOne(t *testing.T) {
	for _, capacity := range []int{0, -1} {
		require.Panics(t, func() { New[flowKey](capacity) }, "capacity %d", capacity)
	}
	require.Equal(t, 1, New[flowKey](1).Capacity())
}

// With no more distinct keys than counters nothing is ever replaced, so every
// count is exact.
func TestExactWhileKeysFit(t *testing.T) {
	type add struct {
		key         uint64
		weight, aux uint64
	}
	random := func(seed uint64, keys, n int) []add {
		r := rand.New(rand.NewPCG(seed, 0))
		var adds []add
		for range n {
			adds = append(adds, add{r.Uint64N(uint64(keys)), r.Uint64N(1500), r.Uint64N(3)})
		}
		return adds
	}
	cases := []struct {
		name     string
		capacity int
		adds     []add
	}{
		{"one key, one counter", 1, []add{{7, 1, 60}, {7, 1, 1500}, {7, 1, 40}}},
		{"keys fill the summary", 3, []add{{1, 1, 100}, {2, 1, 200}, {3, 1, 300}, {2, 1, 200}, {3, 1, 300}, {3, 1, 300}}},
		{"byte weights", 4, []add{{1, 1500, 1}, {2, 40, 1}, {1, 1500, 1}, {3, 576, 1}, {4, 9000, 1}}},
		{"zero weight and zero aux", 2, []add{{1, 0, 5}, {2, 3, 0}, {1, 0, 0}}},
		{"random stream over fewer keys than counters", 100, random(1, 37, 10_000)},
		{"random stream over exactly capacity keys", 64, random(2, 64, 10_000)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New[flowKey](tc.capacity)
			exact := newExactCount()
			for _, a := range tc.adds {
				addBoth(s, exact, keyOf(a.key), a.weight, a.aux)
			}
			entries := all(s)
			require.Len(t, entries, len(exact.weight))
			for _, e := range entries {
				require.Equal(t, Entry[flowKey]{Key: e.Key, Count: exact.weight[e.Key], Aux: exact.aux[e.Key]}, e)
			}
			checkInvariants(t, s, exact)
		})
	}
}

// checkInvariants checks what Space-Saving guarantees about every counter
// against the exact count of the stream.
func checkInvariants(t *testing.T, s *Summary[flowKey], exact *exactCount) {
	t.Helper()
	weight, aux := s.Totals()
	require.Equal(t, exact.n, weight, "total weight")
	require.Equal(t, exact.nAux, aux, "total aux")

	entries := all(s)
	require.Len(t, entries, s.Len())
	require.LessOrEqual(t, s.Len(), s.Capacity())
	require.True(t, slices.IsSortedFunc(entries, rankOrder), "Top is sorted, largest Count first")

	var sumCount, sumAux uint64
	seen := make(map[flowKey]bool, len(entries))
	for _, e := range entries {
		require.False(t, seen[e.Key], "key %v reported twice", e.Key)
		seen[e.Key] = true
		sumCount += e.Count
		sumAux += e.Aux
		require.LessOrEqual(t, e.Error, e.Count, "%+v", e)
		require.LessOrEqual(t, e.AuxError, e.Aux, "%+v", e)
		trueWeight := exact.weight[e.Key]
		require.LessOrEqual(t, trueWeight, e.Count, "Count over-estimates: %+v, true %d", e, trueWeight)
		require.GreaterOrEqual(t, trueWeight, e.Count-e.Error, "Count-Error is a lower bound: %+v, true %d", e, trueWeight)
		require.GreaterOrEqual(t, exact.aux[e.Key], e.Aux-e.AuxError, "Aux-AuxError is a lower bound: %+v, true %d", e, exact.aux[e.Key])
	}
	require.Equal(t, weight, sumCount, "the counts add up to the total weight")
	require.Equal(t, aux, sumAux, "the aux add up to the total aux")

	if s.Len() < s.Capacity() {
		return
	}
	minCount := entries[len(entries)-1].Count
	require.LessOrEqual(t, minCount*uint64(s.Capacity()), weight, "min Count <= N/capacity")
	for _, e := range entries {
		require.LessOrEqual(t, e.Error, minCount, "an Error is a minimum count of the past: %+v", e)
	}
	// Every key heavier than the minimum count is monitored.
	for k, w := range exact.weight {
		if w > minCount {
			require.True(t, seen[k], "key %v of weight %d > min count %d is not monitored", k, w, minCount)
		}
	}
}

func TestInvariantsAfterRandomStream(t *testing.T) {
	cases := []struct {
		name     string
		capacity int
		keys     uint64
		n        int
		weight   func(r *rand.Rand) uint64
		key      func(r *rand.Rand, keys uint64) uint64
	}{
		{"one counter", 1, 50, 2_000, unitWeight, uniformKey},
		{"packets, uniform keys", 16, 1_000, 20_000, unitWeight, uniformKey},
		{"packets, skewed keys", 40, 10_000, 50_000, unitWeight, skewedKey},
		{"bytes, uniform keys", 16, 1_000, 20_000, byteWeight, uniformKey},
		{"bytes, skewed keys", 40, 10_000, 50_000, byteWeight, skewedKey},
		{"bytes with zero weights", 8, 200, 20_000, sometimesZeroWeight, skewedKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(tc.capacity), tc.keys))
			s := New[flowKey](tc.capacity)
			exact := newExactCount()
			for i := range tc.n {
				addBoth(s, exact, keyOf(tc.key(r, tc.keys)), tc.weight(r), r.Uint64N(1500))
				if i%997 == 0 { // also mid-stream
					checkInvariants(t, s, exact)
				}
			}
			require.Equal(t, tc.capacity, s.Len())
			checkInvariants(t, s, exact)

			// Top(k) for a smaller k is the head of the full ranking.
			full := all(s)
			for _, k := range []int{0, 1, tc.capacity / 2, tc.capacity - 1} {
				top := s.Top(k, nil)
				require.Len(t, top, k)
				for i := range top {
					require.Equal(t, full[i].Count, top[i].Count, "Top(%d)[%d]", k, i)
					require.Equal(t, full[i].Error, top[i].Error, "Top(%d)[%d]", k, i)
				}
			}
			require.Len(t, s.Top(tc.capacity+5, nil), tc.capacity, "Top(k > Len) returns Len entries")

			s.Reset()
			require.Zero(t, s.Len())
			require.Empty(t, all(s))
			weight, aux := s.Totals()
			require.Zero(t, weight)
			require.Zero(t, aux)
			require.Equal(t, tc.capacity, s.Capacity())

			// Reused after Reset, it counts exactly again.
			exact = newExactCount()
			addBoth(s, exact, keyOf(1), 3, 4)
			addBoth(s, exact, keyOf(1), 5, 6)
			require.Equal(t, []Entry[flowKey]{{Key: keyOf(1), Count: 8, Aux: 10}}, all(s))
			checkInvariants(t, s, exact)
		})
	}
}

func unitWeight(*rand.Rand) uint64   { return 1 }
func byteWeight(r *rand.Rand) uint64 { return 40 + r.Uint64N(1461) }
func sometimesZeroWeight(r *rand.Rand) uint64 {
	if r.IntN(4) == 0 {
		return 0
	}
	return byteWeight(r)
}
func uniformKey(r *rand.Rand, keys uint64) uint64 { return r.Uint64N(keys) }

// skewedKey picks key i with probability about proportional to 1/(i+1).
func skewedKey(r *rand.Rand, keys uint64) uint64 {
	return uint64(float64(keys)*r.Float64()*r.Float64()*r.Float64()) % keys
}

// The replacement rule, step by step.
func TestReplacesTheMinimumCounter(t *testing.T) {
	s := New[flowKey](2)
	s.Add(keyOf(1), 5, 50)
	s.Add(keyOf(2), 2, 20)
	s.Add(keyOf(3), 4, 40) // replaces key 2 (count 2)
	require.Equal(t, []Entry[flowKey]{
		{Key: keyOf(3), Count: 6, Error: 2, Aux: 60, AuxError: 20},
		{Key: keyOf(1), Count: 5, Aux: 50},
	}, all(s))
	s.Add(keyOf(1), 0, 7)  // monitored: zero weight is still counted in aux
	s.Add(keyOf(4), 0, 10) // zero weight does not take over the minimum; its aux goes to it
	require.Equal(t, []Entry[flowKey]{
		{Key: keyOf(3), Count: 6, Error: 2, Aux: 60, AuxError: 20},
		{Key: keyOf(1), Count: 5, Aux: 67, AuxError: 10},
	}, all(s))
	s.Add(keyOf(2), 1, 1) // replaces key 1 (count 5)
	require.Equal(t, []Entry[flowKey]{
		{Key: keyOf(3), Count: 6, Error: 2, Aux: 60, AuxError: 20},
		{Key: keyOf(2), Count: 6, Error: 5, Aux: 68, AuxError: 67},
	}, all(s), "equal counts: the smaller Error first")
}

func TestTopAppendsToDst(t *testing.T) {
	s := New[flowKey](4)
	for i := range uint64(4) {
		s.Add(keyOf(i), i+1, 0)
	}
	head := Entry[flowKey]{Key: keyOf(99), Count: 1234}
	dst := append(make([]Entry[flowKey], 0, 8), head)
	got := s.Top(2, dst)
	require.Equal(t, []Entry[flowKey]{head, {Key: keyOf(3), Count: 4}, {Key: keyOf(2), Count: 3}}, got)
	require.Equal(t, head, dst[0], "the existing entries are kept")
	require.Equal(t, got, s.Top(-1, got), "Top of k <= 0 appends nothing")
}

func TestNoAllocations(t *testing.T) {
	const capacity = 64
	s := New[flowKey](capacity)
	r := rand.New(rand.NewPCG(1, 2))
	for range 10 * capacity {
		s.Add(keyOf(r.Uint64()), byteWeight(r), 1)
	}
	require.Zero(t, testing.AllocsPerRun(10_000, func() {
		s.Add(keyOf(r.Uint64N(2*capacity)), byteWeight(r), 1) // monitored and new keys
	}), "Add")
	dst := make([]Entry[flowKey], 0, 10)
	require.Zero(t, testing.AllocsPerRun(100, func() { dst = s.Top(10, dst[:0]) }), "Top into a dst with room")
	require.Zero(t, testing.AllocsPerRun(100, func() {
		s.Reset()
		for i := range uint64(2 * capacity) {
			s.Add(keyOf(i), 1, 1)
		}
	}), "Reset and refill")
}
