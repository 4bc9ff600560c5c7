package nflog

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"
)

// Message builders for hand-made fixtures: what the kernel cannot be made to
// send (malformed, truncated, hostile) and attributes this kernel does not
// emit in a namespace test.

type tattr struct {
	typ  uint16
	data []byte
}

func attr(typ uint16, data ...byte) tattr { return tattr{typ, data} }

func attrBE16(typ uint16, v uint16) tattr {
	return tattr{typ, binary.BigEndian.AppendUint16(nil, v)}
}

func attrBE32(typ uint16, v uint32) tattr {
	return tattr{typ, binary.BigEndian.AppendUint32(nil, v)}
}

func nested(typ uint16, attrs ...tattr) tattr {
	return tattr{typ | nlaFNested, encodeAttrs(attrs...)}
}

func encodeAttrs(attrs ...tattr) []byte {
	var b []byte
	for _, a := range attrs {
		b = binary.NativeEndian.AppendUint16(b, uint16(nlaHdrLen+len(a.data)))
		b = binary.NativeEndian.AppendUint16(b, a.typ)
		b = append(b, a.data...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	return b
}

// body builds a message body: nfgenmsg then attributes.
func body(family Family, group uint16, attrs ...tattr) []byte {
	b := []byte{byte(family), 0, 0, 0}
	binary.BigEndian.PutUint16(b[2:], group)
	return append(b, encodeAttrs(attrs...)...)
}

// datagram frames bodies as NFULNL_MSG_PACKET netlink messages and, for more
// than one, ends with NLMSG_DONE as the kernel does.
func datagram(bodies ...[]byte) []byte {
	var d []byte
	for _, b := range bodies {
		d = appendNlmsg(d, nfulnlMsgPacket, 0, b)
	}
	if len(bodies) > 1 {
		d = appendNlmsg(d, nlmsgDone, 0, []byte{0, 0, 0, 0})
	}
	return d
}

func appendNlmsg(d []byte, typ uint16, seq uint32, b []byte) []byte {
	d = binary.NativeEndian.AppendUint32(d, uint32(nlmsgHdrLen+len(b)))
	d = binary.NativeEndian.AppendUint16(d, typ)
	d = binary.NativeEndian.AppendUint16(d, 0)
	d = binary.NativeEndian.AppendUint32(d, seq)
	d = binary.NativeEndian.AppendUint32(d, 0)
	d = append(d, b...)
	for len(d)%4 != 0 {
		d = append(d, 0)
	}
	return d
}

func udpPacketBody(group uint16, prefix string, seq uint32) []byte {
	payload := []byte{
		0x45, 0, 0, 31, 0, 1, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1, // IPv4
		0x9f, 0xeb, 0, 9, 0, 11, 0, 0, 'h', 'i', '\n', // UDP 40939 -> 9
	}
	return body(FamilyIPv4, group,
		attr(uint16(AttrPacketHdr), 0x08, 0x00, byte(HookOutput), 0),
		attr(uint16(AttrPrefix), append([]byte(prefix), 0)...),
		attrBE32(uint16(AttrOutDev), 1),
		attrBE32(uint16(AttrSeq), seq),
		attr(uint16(AttrPayload), payload...),
	)
}

// fakeSource replays batches; receive blocks when they run out until
// closed or ctx ends, like a quiet socket.
type fakeSource struct {
	notASocket
	mu      sync.Mutex
	batches [][]byte
	framed  bool
	done    chan struct{}
	once    sync.Once
}

func newFakeSource(framed bool, batches ...[]byte) *fakeSource {
	return &fakeSource{batches: batches, framed: framed, done: make(chan struct{})}
}

func (s *fakeSource) add(b []byte) {
	s.mu.Lock()
	s.batches = append(s.batches, b)
	s.mu.Unlock()
}

func (s *fakeSource) receive(ctx context.Context, buf []byte, wait bool) (batch, error) {
	for {
		s.mu.Lock()
		if len(s.batches) > 0 {
			b := s.batches[0]
			s.batches = s.batches[1:]
			s.mu.Unlock()
			if b == nil {
				return batch{}, errENOBUFS
			}
			n := copy(buf, b)
			if !s.framed {
				return batch{data: b, time: time.Unix(1700000000, 0)}, nil
			}
			return batch{data: buf[:n], framed: true, time: time.Unix(1700000000, 0)}, nil
		}
		s.mu.Unlock()
		if !wait {
			return batch{}, ErrWouldBlock
		}
		select {
		case <-s.done:
			return batch{}, ErrClosed
		case <-ctx.Done():
			return batch{}, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

func (s *fakeSource) bufferSize() int   { return 1 << 16 }
func (s *fakeSource) seqFromZero() bool { return true }
func (s *fakeSource) close() error {
	s.once.Do(func() { close(s.done) })
	return nil
}

// waitReceiving waits, bounded, until a read holds r's receive lock: it is
// then receiving from the source, or about to.
func waitReceiving(t testing.TB, r *Reader) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(r.recvLock) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no read took the receive lock within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func newFakeReader(t testing.TB, cfg Config, batches ...[]byte) (*Reader, *fakeSource) {
	src := newFakeSource(true, batches...)
	r := newReader(src, []int{1}, cfg, nil)
	t.Cleanup(func() { r.Close() })
	return r, src
}
