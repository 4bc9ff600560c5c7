//go:build linux

package nflog

import "bytes"

// lastHit remembers a cache's last lookup, so that a lookup of the same
// key again skips the map: consecutive packets are mostly of one series.
type lastHit[V any] struct {
	key []byte
	v   V
	ok  bool
}

func (l *lastHit[V]) get(key []byte) (V, bool) {
	if l.ok && bytes.Equal(key, l.key) {
		return l.v, true
	}
	var zero V
	return zero, false
}

func (l *lastHit[V]) set(key []byte, v V) {
	l.key, l.v, l.ok = append(l.key[:0], key...), v, true
}

func (l *lastHit[V]) reset() {
	var zero V
	l.v, l.ok = zero, false
}
