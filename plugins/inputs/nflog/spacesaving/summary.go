package spacesaving

import "fmt"

// Summary is a weighted Space-Saving summary (Metwally, Agrawal, El Abbadi
// 2005) over keys K, holding at most Capacity counters. See the package
// documentation for its error bound.
//
// A Summary is not safe for concurrent use.
type Summary[K comparable] struct {
	// index maps each monitored key to its counter in counters.
	index index
	// counters holds the monitored keys; a counter's position never changes
	// while its key is monitored, so index is written only on replacement.
	counters []counter[K]
	// heap is a 4-ary min-heap of the counters by count: heap[0] is the
	// counter a new key replaces.
	heap []heapNode

	// last is the counter Add touched last. Packets come in bursts from
	// one key (a flood, a transfer), and comparing with its key is far
	// cheaper than hashing; its key may have been replaced since, then the
	// comparison fails.
	last int32

	totalWeight, totalAux uint64
}

// counter is one monitored key, all but its count (which lives in the heap
// node, next to the other counts the heap compares).
type counter[K comparable] struct {
	key      K
	hash     uint32 // of key, to find its slot in index without hashing it again
	err      uint64 // the count this counter started from when it took over
	aux      uint64
	auxError uint64 // the aux it inherited when it took over
	pos      int32  // its node's position in heap
}

type heapNode struct {
	count   uint64
	counter int32 // index into counters
}

// New returns an empty Summary holding at most capacity counters. Its memory
// is allocated here, once. It panics when capacity < 1, a programmer error.
func New[K comparable](capacity int) *Summary[K] {
	if capacity < 1 || capacity > maxCapacity {
		panic(fmt.Sprintf("spacesaving: capacity %d out of range [1, %d]", capacity, maxCapacity))
	}
	return &Summary[K]{
		index:    newIndex(capacity),
		counters: make([]counter[K], 0, capacity),
		heap:     make([]heapNode, 0, capacity),
	}
}

// maxCapacity keeps counter indices in an int32 and index slots in a uint32.
const maxCapacity = 1 << 30

// Add counts one occurrence of key: weight is what the summary ranks by (1 for
// a packet, or its bytes), aux the other dimension, which is attributed to
// the same counter but not ranked. Sums wrap around at 2^64.
//
// An unmonitored key with the summary full takes over the counter with the
// smallest count. With weight 0 it would rank no higher than that counter, so
// it does not take it over: its aux is folded into that counter as inherited
// aux (AuxError), which keeps both the totals and every bound.
func (s *Summary[K]) Add(key K, weight, aux uint64) {
	s.totalWeight += weight
	s.totalAux += aux
	if len(s.counters) > 0 && s.counters[s.last].key == key {
		s.increment(s.last, weight, aux)
		return
	}
	h := hashOf(&s.index, key)
	if i := find(&s.index, s.counters, key, h); i >= 0 {
		s.last = i
		s.increment(i, weight, aux)
		return
	}
	if len(s.counters) < cap(s.counters) {
		i := int32(len(s.counters))
		pos := int32(len(s.heap))
		s.counters = append(s.counters, counter[K]{key: key, hash: h, aux: aux, pos: pos})
		s.heap = append(s.heap, heapNode{count: weight, counter: i})
		s.index.insert(h, i)
		s.up(int(pos))
		s.last = i
		return
	}
	smallest := &s.heap[0]
	c := &s.counters[smallest.counter]
	if weight == 0 {
		c.aux += aux
		c.auxError += aux
		return
	}
	s.index.remove(c.hash, smallest.counter)
	s.index.insert(h, smallest.counter)
	c.key = key
	c.hash = h
	c.err = smallest.count
	c.auxError = c.aux
	c.aux += aux
	s.last = smallest.counter
	smallest.count += weight
	s.down(0)
}

// increment adds to the monitored counter i.
func (s *Summary[K]) increment(i int32, weight, aux uint64) {
	c := &s.counters[i]
	c.aux += aux
	s.heap[c.pos].count += weight
	s.down(int(c.pos))
}

// Totals returns the exact sums of the weight and aux of everything added
// since the last Reset.
func (s *Summary[K]) Totals() (weight, aux uint64) { return s.totalWeight, s.totalAux }

// Len returns the number of counters in use.
func (s *Summary[K]) Len() int { return len(s.counters) }

// Capacity returns the maximum number of counters, as given to New.
func (s *Summary[K]) Capacity() int { return cap(s.counters) }

// Reset empties the summary and zeroes its totals, keeping its memory.
func (s *Summary[K]) Reset() {
	s.index.reset()
	clear(s.counters) // drop references the keys may hold
	s.counters = s.counters[:0]
	s.heap = s.heap[:0]
	s.last = 0
	s.totalWeight, s.totalAux = 0, 0
}
