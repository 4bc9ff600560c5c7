package spacesaving

import (
	"cmp"
	"slices"
)

// Entry is one counter of a Summary, as reported by Top.
type Entry[K comparable] struct {
	Key K
	// Count is the estimated weight: the key's true weight is in
	// [Count-Error, Count].
	Count uint64
	// Error is the maximum over-count of Count: the count of the counter the
	// key took over, 0 while the key has been monitored since its first
	// arrival (then Count is exact).
	Error uint64
	// Aux is the aux attributed to the counter; the Aux of all counters add
	// up to the total aux.
	Aux uint64
	// AuxError is the aux the counter inherited when the key took it over:
	// Aux-AuxError was added by the key itself, a guaranteed lower bound of
	// its true aux. (There is no upper bound: aux the key brought before an
	// eviction went to other counters.)
	AuxError uint64
}

// Top appends to dst up to k entries, those with the largest Count, largest
// first (ties: smaller Error first), and returns the extended slice. It does
// not allocate when dst has room for them. It takes O(Len·log k).
func (s *Summary[K]) Top(k int, dst []Entry[K]) []Entry[K] {
	k = min(k, len(s.counters))
	if k <= 0 {
		return dst
	}
	start := len(dst)
	dst = slices.Grow(dst, k)
	// Keep the best k seen so far in dst[start:] as a heap whose root is the
	// worst of them, then sort them. Start from the end of the summary's
	// heap, the leaves, where the large counts are, so that few of the rest
	// get past the root.
	best := dst[start : start+k]
	rest := len(s.heap) - k
	for i, n := range s.heap[rest:] {
		best[i] = s.entry(n)
	}
	worseFirst := func(a, b Entry[K]) int { return -rankOrder(a, b) }
	heapify(best, worseFirst)
	for _, n := range s.heap[:rest] {
		if n.count < best[0].Count {
			continue
		}
		if e := s.entry(n); rankOrder(e, best[0]) < 0 {
			best[0] = e
			siftDown(best, 0, worseFirst)
		}
	}
	slices.SortFunc(best, rankOrder)
	return dst[:start+k]
}

func (s *Summary[K]) entry(n heapNode) Entry[K] {
	c := &s.counters[n.counter]
	return Entry[K]{Key: c.key, Count: n.count, Error: c.err, Aux: c.aux, AuxError: c.auxError}
}

// rankOrder orders entries best first: larger Count, then smaller Error.
func rankOrder[K comparable](a, b Entry[K]) int {
	if c := cmp.Compare(b.Count, a.Count); c != 0 {
		return c
	}
	return cmp.Compare(a.Error, b.Error)
}

// heapify and siftDown keep e as a heap whose root is the first element by
// order.
func heapify[E any](e []E, order func(a, b E) int) {
	for i := len(e)/2 - 1; i >= 0; i-- {
		siftDown(e, i, order)
	}
}

func siftDown[E any](e []E, i int, order func(a, b E) int) {
	for {
		child := 2*i + 1
		if child >= len(e) {
			return
		}
		if r := child + 1; r < len(e) && order(e[r], e[child]) < 0 {
			child = r
		}
		if order(e[i], e[child]) <= 0 {
			return
		}
		e[i], e[child] = e[child], e[i]
		i = child
	}
}
