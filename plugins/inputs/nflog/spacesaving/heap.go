package spacesaving

// The min-heap of counters by count, 4-ary: half the depth of a binary heap,
// and a node's four children share a cache line, which made Add faster under
// a flood of new keys, where every packet sifts the root down to a leaf (see
// BenchmarkAdd). Hand-written rather than container/heap, whose interface
// calls would cost more than the comparisons. Counts only grow, so the only
// operations are sift-up after an insertion and sift-down after an increment.

const arity = 4

// up moves the node at pos towards the root until its parent is not larger.
func (s *Summary[K]) up(pos int) {
	h := s.heap
	n := h[pos]
	for pos > 0 {
		parent := (pos - 1) / arity
		if h[parent].count <= n.count {
			break
		}
		s.place(pos, h[parent])
		pos = parent
	}
	s.place(pos, n)
}

// down moves the node at pos towards the leaves until no child is smaller.
func (s *Summary[K]) down(pos int) {
	h := s.heap
	n := h[pos]
	for {
		first := arity*pos + 1
		if first >= len(h) {
			break
		}
		child := first
		for c := first + 1; c < min(first+arity, len(h)); c++ {
			if h[c].count < h[child].count {
				child = c
			}
		}
		if n.count <= h[child].count {
			break
		}
		s.place(pos, h[child])
		pos = child
	}
	s.place(pos, n)
}

// place puts node n at heap position pos and tells its counter.
func (s *Summary[K]) place(pos int, n heapNode) {
	s.heap[pos] = n
	s.counters[n.counter].pos = int32(pos)
}
