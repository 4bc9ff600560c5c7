package nflog

// This file is the one place that knows the kernel's wire format for packet
// messages. It is hand-written rather than built on netlink.AttributeDecoder
// because that decoder allocates for every attribute it yields, and the
// per-message budget here is a fraction of a microsecond with no allocation
// (see BenchmarkDecode): at 200k messages a second, allocation is what makes
// a Go reader fall behind a C one.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"time"
	"unsafe"
)

// tlvIter walks netlink attributes {u16 len; u16 type; value; pad to 4}.
// Lengths and types are in host byte order (or the opposite, when swap is set,
// for capture files from a host of the other endianness); values are
// big-endian and are interpreted by the caller. A malformed attribute ends the
// walk and sets err, which the caller checks once after the loop.
type tlvIter struct {
	b    []byte
	swap bool
	cut  bool // b was cut short: an attribute running past its end ends the walk, without error
	typ  uint16
	val  []byte
	err  error
}

func (it *tlvIter) next() bool {
	b := it.b
	if len(b) < nlaHdrLen || it.err != nil {
		if len(b) != 0 && it.err == nil {
			it.fail()
		}
		return false
	}
	l := binary.NativeEndian.Uint16(b[0:2])
	t := binary.NativeEndian.Uint16(b[2:4])
	if it.swap {
		l, t = bits.ReverseBytes16(l), bits.ReverseBytes16(t)
	}
	if int(l) < nlaHdrLen || int(l) > len(b) {
		it.fail()
		return false
	}
	it.typ = t & nlaTypeMask
	it.val = b[nlaHdrLen:l:l]
	// The last attribute's padding may be missing.
	it.b = b[min(nlaAlign(int(l)), len(b)):]
	return true
}

// attrLen is the length field of the attribute at the start of b, in host
// order, or 0 when b is shorter than an attribute header.
func attrLen(b []byte) int {
	if len(b) < nlaHdrLen {
		return 0
	}
	return int(binary.NativeEndian.Uint16(b))
}

// fail records why the attribute at it.b is malformed. It is kept out of
// next so that the loops that call next stay small.
//
//go:noinline
func (it *tlvIter) fail() {
	b := it.b
	if it.cut && (len(b) < nlaHdrLen || int(it.length(b)) >= nlaHdrLen) {
		it.b = nil // the attribute the cut fell in: missing, not malformed
		return
	}
	if len(b) < nlaHdrLen {
		it.err = fmt.Errorf("%w: %d trailing bytes after the last attribute", ErrMalformed, len(b))
		return
	}
	l := binary.NativeEndian.Uint16(b[0:2])
	t := binary.NativeEndian.Uint16(b[2:4])
	if it.swap {
		l, t = bits.ReverseBytes16(l), bits.ReverseBytes16(t)
	}
	it.err = fmt.Errorf("%w: attribute type %d has length %d with %d bytes left", ErrMalformed, t&nlaTypeMask, l, len(b))
}

func (it *tlvIter) length(b []byte) uint16 {
	l := binary.NativeEndian.Uint16(b[0:2])
	if it.swap {
		l = bits.ReverseBytes16(l)
	}
	return l
}

// nlaAlign is NLA_ALIGN (and NLMSG_ALIGN): round up to 4 bytes.
func nlaAlign(n int) int { return (n + 3) &^ 3 }

// be16, be32 and u8 read an attribute value of at least the size they
// need. The error is built out of line so that they inline into decode.
func be16(v []byte, what string) (uint16, error) {
	if len(v) < 2 {
		return 0, shortValue(what, len(v), 2)
	}
	return binary.BigEndian.Uint16(v), nil
}

func be32(v []byte, what string) (uint32, error) {
	if len(v) < 4 {
		return 0, shortValue(what, len(v), 4)
	}
	return binary.BigEndian.Uint32(v), nil
}

func u8(v []byte, what string) (uint8, error) {
	if len(v) < 1 {
		return 0, shortValue(what, 0, 1)
	}
	return v[0], nil
}

//go:noinline
func shortValue(what string, have, want int) error {
	return fmt.Errorf("%w: %s has %d bytes, want %d", ErrMalformed, what, have, want)
}

// decoder turns message bodies into Packets. It is owned by one reader and
// used under that reader's receive lock.
type decoder struct {
	names    nameResolver // nil: leave device names empty
	prefixes internTable
}

// nameResolver maps interface indexes to names; see ifnames_linux.go.
type nameResolver interface {
	name(index uint32) string
}

// decode decodes one message body (nfgenmsg + attributes) into p, which is
// reset first; p's slices alias body. recvTime stands in for the timestamp
// when the kernel sent none. The Unknown slice of p is reused.
func (d *decoder) decode(body []byte, swap bool, recvTime time.Time, p *Packet) error {
	return d.decodeRecord(body, 0, swap, recvTime, p)
}

// decodeRecord is decode for a capture record that the snap length may have
// cut: origLen, when more than len(body), is the message's length before
// the cut. The attributes wholly within body are decoded, the cut one is
// left out, and the packet is marked Truncated.
func (d *decoder) decodeRecord(body []byte, origLen int, swap bool, recvTime time.Time, p *Packet) error {
	unknown := p.Unknown[:0]
	*p = Packet{} // cleared in place: a composite literal here built a temporary and copied it
	p.Unknown, p.Raw, p.swapped = unknown, body, swap
	cut := origLen > len(body)
	if len(body) < nfgenmsgLen {
		if cut {
			return fmt.Errorf("%w: the capture's snap length cut the record to %d bytes, inside the 4-byte nfgenmsg header", ErrMalformed, len(body))
		}
		return fmt.Errorf("%w: message has %d bytes, shorter than the 4-byte nfgenmsg header", ErrMalformed, len(body))
	}
	if cut {
		p.Truncated, p.OriginalLen = true, origLen
	}
	p.Family = Family(body[0])
	p.Group = binary.BigEndian.Uint16(body[2:4])
	// The walk's common case, a whole attribute in host order, is written
	// out here rather than called: tlvIter.next is too big to inline, and
	// the call and its stores were a third of the decode's instructions
	// (cachegrind, BenchmarkDecode). tlvIter takes the rest: the end, the
	// other byte order, and a malformed or cut attribute. It is set field
	// by field: a composite literal was built in one stack slot and copied
	// to another, and the copy's 16-byte load stalled on the narrower
	// stores just made (perf annotate, under flood).
	var it tlvIter
	it.swap, it.cut = swap, cut
	rest := body[nfgenmsgLen:]
	var err error
	for {
		var typ uint16
		var v []byte
		if l := attrLen(rest); !swap && l >= nlaHdrLen && l <= len(rest) {
			typ, v = binary.NativeEndian.Uint16(rest[2:])&nlaTypeMask, rest[nlaHdrLen:l:l]
			rest = rest[min(nlaAlign(l), len(rest)):] // the last attribute's padding may be missing
		} else {
			it.b = rest
			if !it.next() {
				break
			}
			typ, v, rest = it.typ, it.val, it.b
		}
		a := Attr(typ)
		switch a {
		case AttrPacketHdr:
			if len(v) < 3 {
				err = fmt.Errorf("%w: packet header has %d bytes, want 4", ErrMalformed, len(v))
				break
			}
			p.HwProtocol = binary.BigEndian.Uint16(v)
			p.Hook = Hook(v[2])
		case AttrMark:
			p.Mark, err = be32(v, "mark")
		case AttrTimestamp:
			if len(v) < 16 {
				err = fmt.Errorf("%w: timestamp has %d bytes, want 16", ErrMalformed, len(v))
				break
			}
			sec := binary.BigEndian.Uint64(v[0:8])
			usec := binary.BigEndian.Uint64(v[8:16])
			if sec > 1<<40 || usec >= 1e6 {
				err = fmt.Errorf("%w: timestamp %d s %d µs is out of range", ErrMalformed, sec, usec)
				break
			}
			p.Timestamp = time.Unix(int64(sec), int64(usec)*1000)
		case AttrInDev:
			p.InDev, err = be32(v, "indev")
			p.InDevName = d.name(p.InDev)
		case AttrOutDev:
			p.OutDev, err = be32(v, "outdev")
			p.OutDevName = d.name(p.OutDev)
		case AttrPhysInDev:
			p.PhysInDev, err = be32(v, "physindev")
			p.PhysInDevName = d.name(p.PhysInDev)
		case AttrPhysOutDev:
			p.PhysOutDev, err = be32(v, "physoutdev")
			p.PhysOutDevName = d.name(p.PhysOutDev)
		case AttrHwAddr:
			// struct nfulnl_msg_packet_hw {__be16 hw_addrlen; __u16 _pad; __u8 hw_addr[8];}
			if len(v) < 4 {
				err = fmt.Errorf("%w: hardware address has %d bytes, want 12", ErrMalformed, len(v))
				break
			}
			n := int(binary.BigEndian.Uint16(v))
			if n > len(v)-4 {
				err = fmt.Errorf("%w: hardware address length %d exceeds its %d bytes", ErrMalformed, n, len(v)-4)
				break
			}
			p.HwAddr = v[4 : 4+n : 4+n]
		case AttrPayload:
			p.Payload = v
		case AttrPrefix:
			p.Prefix = d.prefixes.intern(cString(v))
		case AttrUID:
			p.UID, err = be32(v, "uid")
		case AttrGID:
			p.GID, err = be32(v, "gid")
		case AttrSeq:
			p.Seq, err = be32(v, "seq")
		case AttrSeqGlobal:
			p.GlobalSeq, err = be32(v, "global seq")
		case AttrHwType:
			p.HwType, err = be16(v, "hardware type")
		case AttrHwLen:
			p.HwLen, err = be16(v, "hardware header length")
		case AttrHwHeader:
			p.HwHeader = v
		case AttrConntrack:
			err = decodeConntrack(v, swap, &p.Conntrack)
		case AttrConntrackInfo:
			var ci uint32
			ci, err = be32(v, "ct info")
			p.ConntrackInfo = ConntrackInfo(ci)
		case AttrVLAN:
			err = decodeVLAN(v, swap, &p.VLAN)
		case AttrL2Header:
			p.L2Header = v
		default:
			p.Unknown = append(p.Unknown, RawAttribute{Type: typ, Data: v})
			continue
		}
		if err != nil {
			return fmt.Errorf("attribute %s: %w", a, err)
		}
		p.set(a)
	}
	if it.err != nil {
		return it.err
	}
	if !p.Has(AttrTimestamp) {
		p.Timestamp = recvTime
	}
	return nil
}

func (d *decoder) name(index uint32) string {
	if d.names == nil {
		return ""
	}
	return d.names.name(index)
}

// decodeVLAN decodes the nested NFULA_VLAN: NFULA_VLAN_PROTO (1) and
// NFULA_VLAN_TCI (2), both big-endian.
func decodeVLAN(b []byte, swap bool, v *VLAN) error {
	it := tlvIter{b: b, swap: swap}
	for it.next() {
		var err error
		switch it.typ {
		case 1:
			v.Proto, err = be16(it.val, "vlan proto")
		case 2:
			v.TCI, err = be16(it.val, "vlan tci")
		}
		if err != nil {
			return err
		}
	}
	return it.err
}

// cString returns b up to its first NUL.
func cString(b []byte) []byte {
	// IndexByte rather than a loop: the byte loop was a tenth of the
	// instructions of a decode (cachegrind, BenchmarkDecode).
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// internTable returns the same string for equal prefixes, so that decoding a
// prefix allocates only the first time it is seen. Firewall prefixes are few;
// the table stops growing at internMax entries and then allocates.
type internTable struct {
	m    map[string]string
	last string // consecutive messages usually come from the same rule
}

const internMax = 4096

func (t *internTable) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if string(b) == t.last { // compared in place, no allocation
		return t.last
	}
	if s, ok := t.m[string(b)]; ok { // no allocation: the compiler optimises this lookup
		t.last = s
		return s
	}
	s := string(b)
	if t.m == nil {
		t.m = make(map[string]string)
	}
	if len(t.m) < internMax {
		t.m[s] = s
		t.last = s
	}
	return s
}

// nlmsg is one netlink message header and body within a datagram.
type nlmsg struct {
	typ   uint16
	flags uint16
	seq   uint32
	body  []byte
}

// nlmsgIter walks the netlink messages of one received datagram. It is
// hand-written for the same reason as tlvIter: netlink.Conn.Receive
// allocates a []Message and copies each body, for every datagram.
type nlmsgIter struct {
	b   []byte
	msg nlmsg
	err error
}

func (it *nlmsgIter) next() bool {
	if len(it.b) == 0 || it.err != nil {
		return false
	}
	if len(it.b) < nlmsgHdrLen {
		it.err = fmt.Errorf("%w: %d trailing bytes after the last netlink message", ErrMalformed, len(it.b))
		return false
	}
	l := binary.NativeEndian.Uint32(it.b[0:4])
	if l < nlmsgHdrLen || uint64(l) > uint64(len(it.b)) {
		it.err = fmt.Errorf("%w: netlink message length %d with %d bytes left", ErrMalformed, l, len(it.b))
		return false
	}
	it.msg = nlmsg{
		typ:   binary.NativeEndian.Uint16(it.b[4:6]),
		flags: binary.NativeEndian.Uint16(it.b[6:8]),
		seq:   binary.NativeEndian.Uint32(it.b[8:12]),
		body:  it.b[nlmsgHdrLen:l:l],
	}
	adv := nlaAlign(int(l)) // lengths may be unaligned; the next message starts aligned
	if adv > len(it.b) {
		adv = len(it.b)
	}
	it.b = it.b[adv:]
	return true
}

// offsetIn returns the offset of sub within buf, or -1 when sub does not
// point into buf. Used to move a decoded packet's slices onto a copy of its
// message in one allocation.
func offsetIn(sub, buf []byte) int {
	if cap(sub) == 0 || cap(buf) == 0 {
		return -1
	}
	s := uintptr(unsafe.Pointer(unsafe.SliceData(sub)))
	b := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	if s < b || s+uintptr(len(sub)) > b+uintptr(len(buf)) {
		return -1
	}
	return int(s - b)
}

// swapTLVHeaders reverses the byte order of the attribute headers of a
// message body in place, descending into nested attributes; values are
// big-endian and stay as they are. swapped says whether the headers are
// currently in the opposite of host order. Used to write capture files,
// which are little-endian, whatever order the packet was read in.
func swapTLVHeaders(b []byte, swapped bool, depth int) {
	for len(b) >= nlaHdrLen {
		l := binary.NativeEndian.Uint16(b[0:2])
		t := binary.NativeEndian.Uint16(b[2:4])
		if swapped {
			l, t = bits.ReverseBytes16(l), bits.ReverseBytes16(t)
		}
		if int(l) < nlaHdrLen || int(l) > len(b) {
			return
		}
		if swapped {
			binary.NativeEndian.PutUint16(b[0:2], l)
			binary.NativeEndian.PutUint16(b[2:4], t)
		} else {
			binary.NativeEndian.PutUint16(b[0:2], bits.ReverseBytes16(l))
			binary.NativeEndian.PutUint16(b[2:4], bits.ReverseBytes16(t))
		}
		if t&nlaFNested != 0 && depth < 4 {
			swapTLVHeaders(b[nlaHdrLen:l], swapped, depth+1)
		}
		adv := nlaAlign(int(l))
		if adv > len(b) {
			return
		}
		b = b[adv:]
	}
}

func nativeUint32(b []byte) uint32 { return binary.NativeEndian.Uint32(b) }

// Decode decodes one message body as the kernel sends it after the netlink
// header, or as a capture file record holds it (nfgenmsg and attributes,
// attribute headers in host byte order), into a packet that owns its memory.
// recvTime stands in for the timestamp when the message has none. Interface
// names are left empty. Readers do this for you; Decode is for messages
// obtained elsewhere, and for tests.
func Decode(msg []byte, recvTime time.Time) (Packet, error) {
	var d decoder
	var p Packet
	if err := d.decode(cloneBytes(msg), false, recvTime, &p); err != nil {
		return Packet{}, &DecodeError{Raw: cloneBytes(msg), Err: err}
	}
	return p, nil
}
