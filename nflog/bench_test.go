package nflog

import (
	"context"
	"testing"
	"time"
)

// Decode cost per message and allocations, for the zero-copy path (Loop) and
// the copying path (Next). A batch of 23 messages is what one receive
// returned on average at queue threshold 64 when the flood benchmark (make
// bench) was first measured.

func benchDatagram(b *testing.B) []byte {
	var bodies [][]byte
	for i := range 23 {
		bodies = append(bodies, udpPacketBody(1, "DROP:wan", uint32(i)))
	}
	return datagram(bodies...)
}

func BenchmarkDecode(b *testing.B) {
	msg := udpPacketBody(1, "DROP:wan", 0)
	var d decoder
	var p Packet
	b.ReportAllocs()
	for b.Loop() {
		if err := d.decode(msg, false, time.Time{}, &p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeAndLayers(b *testing.B) {
	msg := udpPacketBody(1, "DROP:wan", 0)
	var d decoder
	var p Packet
	var ports int
	b.ReportAllocs()
	for b.Loop() {
		d.decode(msg, false, time.Time{}, &p)
		l, _ := p.Layers()
		ports += int(l.DstPort)
	}
}

// batchSource hands out the same datagram forever.
type batchSource struct {
	notASocket
	d []byte
}

func (s *batchSource) receive(_ context.Context, buf []byte, _ bool) (batch, error) {
	n := copy(buf, s.d)
	return batch{data: buf[:n], framed: true}, nil
}
func (s *batchSource) bufferSize() int   { return 1 << 16 }
func (s *batchSource) seqFromZero() bool { return false }
func (s *batchSource) close() error      { return nil }

// BenchmarkLoop: per message, zero-copy. Must report 0 allocs/op.
func BenchmarkLoop(b *testing.B) {
	r := newReader(&batchSource{d: benchDatagram(b)}, []int{1}, Config{}, nil)
	ctx := context.Background()
	var bytes int
	b.ReportAllocs()
	b.ResetTimer()
	r.Loop(ctx, b.N, func(p *Packet) error { bytes += len(p.Payload); return nil })
}

// BenchmarkNext: per message, copying: one allocation for the message it
// must own (amortised queue growth aside).
func BenchmarkNext(b *testing.B) {
	r := newReader(&batchSource{d: benchDatagram(b)}, []int{1}, Config{}, nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := r.Next(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
