package spacesaving

import (
	"hash/maphash"
	"math/bits"
)

// index maps each monitored key to its counter: an open-addressing hash table
// with linear probing and backward-shift deletion, sized once to at least
// twice the capacity.
//
// Not a Go map: Space-Saving deletes a key and inserts another on every
// replacement, and a Go map (Swiss table, Go 1.24+) marks deleted slots as
// tombstones and, when it runs out of free slots, grows rather than reclaim
// them all; under a flood of new keys it doubled in size (see
// TestMemoryBoundedUnderFlood). Backward-shift deletion leaves no tombstones, so
// this table never grows and probe sequences stay short.
type index struct {
	seed  maphash.Seed
	slots []slot // len is a power of two, at least 2·capacity: never full
	mask  uint32
}

// slot is one table entry: the low 32 bits of its key's hash (its home slot
// and a cheap filter before comparing keys) and the counter it points to.
type slot struct {
	hash uint32
	ref  int32 // 1 + the counter's position in Summary.counters; 0: empty
}

func newIndex(capacity int) index {
	size := 1 << bits.Len(uint(2*capacity-1)) // the power of two >= 2·capacity
	return index{seed: maphash.MakeSeed(), slots: make([]slot, size), mask: uint32(size - 1)}
}

func hashOf[K comparable](x *index, key K) uint32 {
	return uint32(maphash.Comparable(x.seed, key))
}

// find returns the counter of key, whose hash is h, or -1.
func find[K comparable](x *index, counters []counter[K], key K, h uint32) int32 {
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		sl := x.slots[i]
		if sl.ref == 0 {
			return -1
		}
		if sl.hash == h && counters[sl.ref-1].key == key {
			return sl.ref - 1
		}
	}
}

// insert adds counter c, whose key (not in the table) has hash h.
func (x *index) insert(h uint32, c int32) {
	i := h & x.mask
	for x.slots[i].ref != 0 {
		i = (i + 1) & x.mask
	}
	x.slots[i] = slot{hash: h, ref: c + 1}
}

// remove deletes counter c, whose key has hash h, and shifts back the entries
// after it that would otherwise be cut off from their home slot.
func (x *index) remove(h uint32, c int32) {
	i := h & x.mask
	for x.slots[i].ref != c+1 {
		i = (i + 1) & x.mask
	}
	for j := (i + 1) & x.mask; x.slots[j].ref != 0; j = (j + 1) & x.mask {
		// The entry at j may move to the hole at i if its home slot is not
		// in (i, j], cyclically: then i is on its probe path.
		home := x.slots[j].hash & x.mask
		if (j-home)&x.mask >= (j-i)&x.mask {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = slot{}
}

func (x *index) reset() { clear(x.slots) }
