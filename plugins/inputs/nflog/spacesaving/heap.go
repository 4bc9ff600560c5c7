package spacesaving

// The min-heap of counters by count. A hand-written heap rather than
// container/heap: the interface calls and the boxing of Push/Pop would cost
// more than the comparisons, and counters only ever grow, so the only
// operations are sift-up after an insertion and sift-down after an increment.

// up moves the node at pos towards the root until its parent is not larger.
func (s *Summary[K]) up(pos int) {
	h := s.heap
	n := h[pos]
	for pos > 0 {
		parent := (pos - 1) / 2
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
		child := 2*pos + 1
		if child >= len(h) {
			break
		}
		if right := child + 1; right < len(h) && h[right].count < h[child].count {
			child = right
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
