package nflog

import (
	"encoding/binary"
	"time"
)

// Builders of capture files byte by byte, for what tcpdump does not write
// on demand: files cut short, snap-length cuts at chosen bytes, pcapng
// files of several interfaces, the modified pcap format.

// pcapRec is one record: its message and, when capLen < len(data), the
// captured part only.
type pcapRec struct {
	data   []byte
	capLen int // -1: all of data
	time   time.Time
	orig   int // the original length when more than len(data): data was cut already
}

// origLen is the length the record header gives as the original.
func (r pcapRec) origLen() int { return max(len(r.data), r.orig) }

func rec(data []byte) pcapRec {
	return pcapRec{data: data, capLen: -1, time: time.Unix(1700000000, 5000)}
}

func cutRec(data []byte, capLen int) pcapRec {
	return pcapRec{data: data, capLen: capLen, time: time.Unix(1700000000, 5000)}
}

func (r pcapRec) captured() []byte {
	if r.capLen < 0 || r.capLen >= len(r.data) {
		return r.data
	}
	return r.data[:r.capLen]
}

// pcapFile writes a pcap file of magic (pcapMagicMicros, pcapMagicNanos,
// pcapMagicModified) in order. The records' attribute headers are left as
// they are (host order).
func pcapFile(order fileOrder, magic uint32, linkType uint32, recs ...pcapRec) []byte {
	var b []byte
	b = order.AppendUint32(b, magic)
	b = order.AppendUint16(b, 2)
	b = order.AppendUint16(b, 4)
	b = order.AppendUint32(b, 0)
	b = order.AppendUint32(b, 0)
	b = order.AppendUint32(b, 65535)
	b = order.AppendUint32(b, linkType)
	for _, r := range recs {
		frac := r.time.Nanosecond() / 1000
		if magic == pcapMagicNanos {
			frac = r.time.Nanosecond()
		}
		data := r.captured()
		b = order.AppendUint32(b, uint32(r.time.Unix()))
		b = order.AppendUint32(b, uint32(frac))
		b = order.AppendUint32(b, uint32(len(data)))
		b = order.AppendUint32(b, uint32(r.origLen()))
		if magic == pcapMagicModified {
			b = order.AppendUint32(b, 1)      // ifindex
			b = order.AppendUint16(b, 0x0800) // protocol
			b = append(b, 0 /* pkt_type */, 0 /* pad */)
		}
		b = append(b, data...)
	}
	return b
}

// ngFile builds a pcapng file in order.
type ngFile struct {
	order fileOrder
	b     []byte
}

func newNgFile(order fileOrder) *ngFile {
	f := &ngFile{order: order}
	body := order.AppendUint32(nil, pcapngByteOrder)
	body = order.AppendUint16(body, 1)
	body = order.AppendUint16(body, 0)
	body = order.AppendUint64(body, ^uint64(0)) // section length unknown
	f.block(pcapngSHB, body)
	return f
}

func (f *ngFile) block(typ uint32, body []byte) *ngFile {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	total := uint32(12 + len(body))
	f.b = f.order.AppendUint32(f.b, typ)
	f.b = f.order.AppendUint32(f.b, total)
	f.b = append(f.b, body...)
	f.b = f.order.AppendUint32(f.b, total)
	return f
}

// ngOption encodes one option, padded.
func (f *ngFile) option(code uint16, v []byte) []byte {
	b := f.order.AppendUint16(nil, code)
	b = f.order.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// iface adds an interface description block; tsresol 0 leaves the
// default (microseconds).
func (f *ngFile) iface(linkType uint16, name string, tsresol byte) *ngFile {
	body := f.order.AppendUint16(nil, linkType)
	body = f.order.AppendUint16(body, 0)
	body = f.order.AppendUint32(body, 262144)
	if name != "" {
		body = append(body, f.option(2, []byte(name))...)
	}
	if tsresol != 0 {
		body = append(body, f.option(9, []byte{tsresol})...)
	}
	body = append(body, 0, 0, 0, 0) // opt_endofopt
	return f.block(pcapngIDB, body)
}

// packet adds an enhanced packet block of interface id with timestamp ts
// in the interface's units.
func (f *ngFile) packet(id uint32, ts uint64, r pcapRec) *ngFile {
	data := r.captured()
	body := f.order.AppendUint32(nil, id)
	body = f.order.AppendUint32(body, uint32(ts>>32))
	body = f.order.AppendUint32(body, uint32(ts))
	body = f.order.AppendUint32(body, uint32(len(data)))
	body = f.order.AppendUint32(body, uint32(r.origLen()))
	body = append(body, data...)
	return f.block(pcapngEPB, body)
}

// simplePacket adds a simple packet block (interface 0, no timestamp).
func (f *ngFile) simplePacket(r pcapRec) *ngFile {
	body := f.order.AppendUint32(nil, uint32(len(r.data)))
	body = append(body, r.captured()...)
	return f.block(pcapngSPB, body)
}

// fileOrder is a byte order that also appends.
type fileOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}
