package nflog

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"time"
)

// This file is the one place that knows the framing of capture files as
// libpcap writes them: pcap (draft-ietf-opsawg-pcap), its "modified" variant
// of Alexey Kuznetzov's patched libpcap (magic 0xa1b2cd34, record headers 8
// bytes longer) and pcapng (draft-ietf-opsawg-pcapng). What is inside a
// record is wire.go's. It is written here rather than taken from gopacket's
// pcapgo reader, which reports a file cut inside a record as a clean end of
// file or a bare io.ErrUnexpectedEOF without saying where, drops the
// packets of a pcapng file's other interfaces without counting them, and
// does not read the modified format. (pcapgo still writes the files:
// PcapWriter.)

// captureRecord is one packet record.
type captureRecord struct {
	data     []byte // the captured bytes; valid until the next call
	origLen  int    // the packet's length before the snap length cut it
	time     time.Time
	linkType uint32
	iface    int    // the pcapng interface id; 0 for pcap
	ifName   string // the pcapng interface's if_name, when it has one
	little   bool   // the file (pcapng: the section) is little-endian
	record   int    // 1 for the first packet record
	offset   int64  // where its record (pcapng: block) starts in the file
}

// captureReader reads the packet records of a pcap or pcapng file.
type captureReader struct {
	br      *bufio.Reader
	off     int64 // bytes consumed from br
	records int   // packet records returned
	ng      bool
	order   binary.ByteOrder
	buf     []byte

	// pcap
	nanos    bool
	hdrLen   int // 16, or 24 in the modified format
	linkType uint32
	snaplen  uint32

	// pcapng: the current section's interfaces
	ifaces []ngInterface
}

type ngInterface struct {
	linkType uint32
	snaplen  uint32
	name     string
	tsUnit   tsUnit
	tsOffset int64 // seconds
}

// tsUnit is an interface's timestamp resolution (if_tsresol): 10^-exp s, or
// 2^-exp s when binary.
type tsUnit struct {
	exp    uint8
	binary bool
}

// The magic numbers, as read in the file's byte order.
const (
	pcapMagicMicros   = 0xa1b2c3d4
	pcapMagicNanos    = 0xa1b23c4d
	pcapMagicModified = 0xa1b2cd34 // Kuznetzov's patched libpcap (KUZNETZOV_TCPDUMP_MAGIC)

	pcapngSHB       = 0x0a0d0d0a // section header block
	pcapngIDB       = 1          // interface description block
	pcapngPB        = 2          // packet block (obsolete)
	pcapngSPB       = 3          // simple packet block
	pcapngEPB       = 6          // enhanced packet block
	pcapngByteOrder = 0x1a2b3c4d

	// maxCaptureLength bounds a record's captured length as libpcap's
	// MAXIMUM_SNAPLEN does, and maxBlockSize a pcapng block: a damaged
	// length must not make the reader allocate gigabytes.
	maxCaptureLength = 262144
	maxBlockSize     = 16 << 20
)

// Format errors. A damaged file is errMalformedFile, a file cut short
// ErrTruncated; both end the stream.
var errMalformedFile = errors.New("malformed capture file")

// newCaptureReader reads the file header. For a pcapng file it reads the
// blocks up to the first interface description block, and on until one of
// link type want while the first ones are of others, so that a capture of
// no NFLOG interface is refused at once.
func newCaptureReader(rd io.Reader, want uint32) (*captureReader, error) {
	c := &captureReader{br: bufio.NewReaderSize(rd, 64<<10)}
	head, err := c.br.Peek(4)
	switch {
	case len(head) == 0 && errors.Is(err, io.EOF):
		return nil, errors.New("the file is empty: a capture holds at least a file header (tcpdump -i nflog:GROUP -w FILE)")
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		return nil, errors.New("the file is gzip-compressed: decompress it first (gunzip -k FILE, or zcat FILE | ... -pcap -)")
	case len(head) < 4:
		return nil, fmt.Errorf("%w: the file ends inside its header, after %d bytes", ErrTruncated, len(head))
	}
	le, be := binary.LittleEndian.Uint32(head), binary.BigEndian.Uint32(head)
	switch {
	case le == pcapngSHB:
		c.ng = true
		if err := c.readSection(); err != nil {
			return nil, err
		}
		return c, c.firstInterfaces(want)
	case isPcapMagic(le):
		c.order = binary.LittleEndian
	case isPcapMagic(be):
		c.order = binary.BigEndian
	default:
		return nil, fmt.Errorf("not a pcap or pcapng file (it starts with % x)", head)
	}
	return c, c.readPcapHeader()
}

func isPcapMagic(m uint32) bool {
	return m == pcapMagicMicros || m == pcapMagicNanos || m == pcapMagicModified
}

// read reads n bytes into c.buf, counting them. A short read is reported
// with how many bytes there were.
func (c *captureReader) read(n int) ([]byte, int, error) {
	if cap(c.buf) < n {
		c.buf = make([]byte, n)
	}
	b := c.buf[:n]
	got, err := io.ReadFull(c.br, b)
	c.off += int64(got)
	return b, got, err
}

// short reports a read that ended early: a clean end of file when nothing
// of the next record was there, a truncation otherwise.
func (c *captureReader) short(err error, start int64, got int, what string, want int) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || (errors.Is(err, io.EOF) && c.off > start) {
		return &CaptureError{Record: c.records + 1, Offset: start, Err: fmt.Errorf(
			"%w: the file ends %d bytes into the %s, which is %d bytes long (tcpdump was stopped while writing, or the copy is incomplete); the records before it were read",
			ErrTruncated, c.off-start, what, want)}
	}
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	return &CaptureError{Record: c.records + 1, Offset: start, Err: err}
}

func (c *captureReader) readPcapHeader() error {
	b, got, err := c.read(24)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: the file ends inside its 24-byte pcap file header, after %d bytes", ErrTruncated, got)
		}
		return err
	}
	c.nanos = c.order.Uint32(b) == pcapMagicNanos
	c.hdrLen = 16
	if c.order.Uint32(b) == pcapMagicModified {
		c.hdrLen = 24 // + ifindex (4), protocol (2), pkt_type (1), padding (1)
	}
	if major := c.order.Uint16(b[4:]); major != 2 {
		return fmt.Errorf("%w: pcap version %d.%d is not supported (only 2.x)", errMalformedFile, major, c.order.Uint16(b[6:]))
	}
	c.snaplen = c.order.Uint32(b[16:])
	c.linkType = c.order.Uint32(b[20:]) & 0x03ffffff // LT_LINKTYPE: the upper bits hold the FCS length
	return nil
}

// next returns the next packet record, io.EOF at the end of the file, or
// a *CaptureError.
func (c *captureReader) next() (captureRecord, error) {
	if c.ng {
		return c.nextBlock()
	}
	start := c.off
	h, got, err := c.read(c.hdrLen)
	if err != nil {
		return captureRecord{}, c.short(err, start, got, fmt.Sprintf("%d-byte record header", c.hdrLen), c.hdrLen)
	}
	sec, frac := c.order.Uint32(h), c.order.Uint32(h[4:])
	capLen, origLen := c.order.Uint32(h[8:]), c.order.Uint32(h[12:])
	if capLen > maxCaptureLength {
		return captureRecord{}, &CaptureError{Record: c.records + 1, Offset: start, Err: fmt.Errorf(
			"%w: the record's captured length %d exceeds %d, the most libpcap writes (the file's snap length is %d; the file is damaged)",
			errMalformedFile, capLen, maxCaptureLength, c.snaplen)}
	}
	ns := int64(frac) * 1000
	if c.nanos {
		ns = int64(frac)
	}
	data, got, err := c.read(int(capLen))
	if err != nil && capLen > 0 {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the header was there: this is a cut, not the end
		}
		return captureRecord{}, c.short(err, start, got, fmt.Sprintf("record (header and %d captured bytes)", capLen), c.hdrLen+int(capLen))
	}
	c.records++
	return captureRecord{
		data: data, origLen: max(int(origLen), int(capLen)), time: time.Unix(int64(sec), ns),
		linkType: c.linkType, little: c.order == binary.LittleEndian, record: c.records, offset: start,
	}, nil
}

// readSection reads a section header block, whose byte-order magic sets
// the order of the blocks after it.
func (c *captureReader) readSection() error {
	start := c.off
	b, got, err := c.read(12)
	if err != nil {
		if start == 0 {
			return fmt.Errorf("%w: the file ends inside its pcapng section header block, after %d bytes", ErrTruncated, got)
		}
		return c.short(err, start, got, "section header block", 28)
	}
	switch {
	case binary.LittleEndian.Uint32(b[8:]) == pcapngByteOrder:
		c.order = binary.LittleEndian
	case binary.BigEndian.Uint32(b[8:]) == pcapngByteOrder:
		c.order = binary.BigEndian
	default:
		return &CaptureError{Record: c.records + 1, Offset: start, Err: fmt.Errorf(
			"%w: pcapng section header block with byte-order magic %#x, want 0x1a2b3c4d", errMalformedFile, binary.LittleEndian.Uint32(b[8:]))}
	}
	total := c.order.Uint32(b[4:])
	body, err := c.blockBody(start, total, 12, "section header block")
	if err != nil {
		return err
	}
	if len(body) < 4 {
		return &CaptureError{Record: c.records + 1, Offset: start, Err: fmt.Errorf("%w: pcapng section header block of %d bytes, shorter than 28", errMalformedFile, total)}
	}
	if major := c.order.Uint16(body); major != 1 {
		return &CaptureError{Record: c.records + 1, Offset: start, Err: fmt.Errorf(
			"%w: pcapng version %d.%d is not supported (only 1.x)", errMalformedFile, major, c.order.Uint16(body[2:]))}
	}
	c.ifaces = c.ifaces[:0] // interface ids are per section
	return nil
}

// blockBody reads the rest of a block whose first read bytes were read,
// checks its trailing length and returns the body between the header and
// that trailer.
func (c *captureReader) blockBody(start int64, total uint32, read int, what string) ([]byte, error) {
	if total < uint32(read)+4 || total%4 != 0 || total > maxBlockSize {
		return nil, &CaptureError{Record: c.records + 1, Offset: start, Err: fmt.Errorf(
			"%w: pcapng %s with total length %d (the file is damaged)", errMalformedFile, what, total)}
	}
	b, got, err := c.read(int(total) - read)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, c.short(err, start, got, "pcapng "+what, int(total))
	}
	if trailer := c.order.Uint32(b[len(b)-4:]); trailer != total {
		return nil, &CaptureError{Record: c.records + 1, Offset: start, Err: fmt.Errorf(
			"%w: pcapng %s says %d bytes at its start and %d at its end (the file is damaged)", errMalformedFile, what, total, trailer)}
	}
	return b[:len(b)-4], nil
}

// firstInterfaces reads the blocks before the first interface description
// block and that block, then, while no interface has link type want, the
// blocks that follow up to the first packet block (which stays unread).
func (c *captureReader) firstInterfaces(want uint32) error {
	for {
		head, err := c.br.Peek(8)
		if len(head) < 8 {
			if len(c.ifaces) > 0 {
				return c.noInterfaceOf(want)
			}
			if len(head) == 0 && errors.Is(err, io.EOF) {
				return errors.New("the pcapng file has no interface description block: the capture ended before it described an interface, so it holds no packets")
			}
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return c.short(err, c.off, 0, "block header", 8)
		}
		typ := c.order.Uint32(head)
		switch typ {
		case pcapngEPB, pcapngSPB, pcapngPB:
			if len(c.ifaces) == 0 {
				return &CaptureError{Record: 1, Offset: c.off, Err: fmt.Errorf(
					"%w: the pcapng file has a packet block before any interface description block", errMalformedFile)}
			}
			return c.noInterfaceOf(want)
		case pcapngSHB:
			if len(c.ifaces) > 0 {
				return c.noInterfaceOf(want)
			}
		}
		if _, err := c.block(); err != nil {
			return err
		}
		for _, i := range c.ifaces {
			if i.linkType == want {
				return nil
			}
		}
	}
}

func (c *captureReader) noInterfaceOf(want uint32) error {
	for _, i := range c.ifaces {
		if i.linkType == want {
			return nil
		}
	}
	return &linkTypeError{linkType: c.ifaces[0].linkType, others: len(c.ifaces) - 1}
}

// linkTypeError refuses a capture of another link type than NFLOG.
type linkTypeError struct {
	linkType uint32
	others   int // further interfaces, none NFLOG
}

func (e *linkTypeError) Error() string {
	s := fmt.Sprintf("link type %d is not NFLOG (239)", e.linkType)
	if e.others > 0 {
		s = fmt.Sprintf("link type %d (and %d other interfaces) is not NFLOG (239)", e.linkType, e.others)
	}
	return s + ": capture with tcpdump -i nflog:GROUP -w FILE"
}

// nextBlock reads blocks until a packet block.
func (c *captureReader) nextBlock() (captureRecord, error) {
	for {
		rec, err := c.block()
		if err != nil || rec.data != nil {
			return rec, err
		}
	}
}

// block reads one pcapng block: an interface description is recorded, a
// packet returned (data non-nil), anything else skipped.
func (c *captureReader) block() (captureRecord, error) {
	start := c.off
	if head, _ := c.br.Peek(4); len(head) == 4 && binary.LittleEndian.Uint32(head) == pcapngSHB {
		return captureRecord{}, c.readSection()
	}
	h, got, err := c.read(8)
	if err != nil {
		return captureRecord{}, c.short(err, start, got, "block header", 8)
	}
	typ, total := c.order.Uint32(h), c.order.Uint32(h[4:])
	what := "block"
	switch typ {
	case pcapngIDB:
		what = "interface description block"
	case pcapngEPB, pcapngSPB, pcapngPB:
		what = "packet block"
	}
	body, err := c.blockBody(start, total, 8, what)
	if err != nil {
		return captureRecord{}, err
	}
	bad := func(format string, args ...any) error {
		return &CaptureError{Record: c.records + 1, Offset: start, Err: fmt.Errorf("%w: pcapng "+what+": "+format, append([]any{errMalformedFile}, args...)...)}
	}
	var (
		iface        int
		tsHi, tsLo   uint32
		capLen, orig uint32
		hasTime      = true
		fixedLen     int // the bytes before the packet data
	)
	switch typ {
	case pcapngIDB:
		if len(body) < 8 {
			return captureRecord{}, bad("%d bytes, shorter than 8", len(body))
		}
		i := ngInterface{linkType: uint32(c.order.Uint16(body)), snaplen: c.order.Uint32(body[4:]), tsUnit: tsUnit{exp: 6}}
		c.options(body[8:], func(code uint16, v []byte) {
			switch {
			case code == 2: // if_name
				i.name = string(cString(v))
			case code == 9 && len(v) >= 1: // if_tsresol
				i.tsUnit = tsUnit{exp: v[0] & 0x7f, binary: v[0]&0x80 != 0}
			case code == 14 && len(v) >= 8: // if_tsoffset
				i.tsOffset = int64(c.order.Uint64(v))
			}
		})
		c.ifaces = append(c.ifaces, i)
		return captureRecord{}, nil
	case pcapngEPB:
		fixedLen = 20
		if len(body) < fixedLen {
			return captureRecord{}, bad("%d bytes, shorter than 20", len(body))
		}
		iface = int(c.order.Uint32(body))
		tsHi, tsLo = c.order.Uint32(body[4:]), c.order.Uint32(body[8:])
		capLen, orig = c.order.Uint32(body[12:]), c.order.Uint32(body[16:])
	case pcapngPB:
		fixedLen = 20
		if len(body) < fixedLen {
			return captureRecord{}, bad("%d bytes, shorter than 20", len(body))
		}
		iface = int(c.order.Uint16(body))
		tsHi, tsLo = c.order.Uint32(body[4:]), c.order.Uint32(body[8:])
		capLen, orig = c.order.Uint32(body[12:]), c.order.Uint32(body[16:])
	case pcapngSPB:
		fixedLen = 4
		if len(body) < fixedLen {
			return captureRecord{}, bad("%d bytes, shorter than 4", len(body))
		}
		hasTime = false
		orig = c.order.Uint32(body)
		capLen = min(orig, uint32(len(body)-4))
		if len(c.ifaces) > 0 && c.ifaces[0].snaplen != 0 {
			capLen = min(capLen, c.ifaces[0].snaplen)
		}
	default:
		return captureRecord{}, nil // name resolution, statistics, custom, ...: not packets
	}
	if iface >= len(c.ifaces) {
		return captureRecord{}, bad("for interface %d, but the section describes %d interfaces (the file is damaged)", iface, len(c.ifaces))
	}
	if uint64(capLen) > uint64(len(body)-fixedLen) {
		return captureRecord{}, bad("captured length %d exceeds the block's %d bytes (the file is damaged)", capLen, len(body)-fixedLen)
	}
	data := body[fixedLen : fixedLen+int(capLen) : fixedLen+int(capLen)]
	in := &c.ifaces[iface]
	var ts time.Time
	if hasTime {
		ts = in.tsUnit.time(uint64(tsHi)<<32|uint64(tsLo), in.tsOffset)
	}
	c.records++
	return captureRecord{
		data: data, origLen: max(int(orig), int(capLen)), time: ts, linkType: in.linkType,
		iface: iface, ifName: in.name, little: c.order == binary.LittleEndian, record: c.records, offset: start,
	}, nil
}

// options walks a block's options: {u16 code; u16 length; value; pad to 4}.
// A damaged option list ends the walk; options only refine the block.
func (c *captureReader) options(b []byte, fn func(code uint16, v []byte)) {
	for len(b) >= 4 {
		code, l := c.order.Uint16(b), int(c.order.Uint16(b[2:]))
		if code == 0 || 4+l > len(b) {
			return
		}
		fn(code, b[4:4+l])
		b = b[min(4+nlaAlign(l), len(b)):]
	}
}

// time converts a timestamp in the interface's units to a time.
func (u tsUnit) time(ts uint64, offset int64) time.Time {
	var sec, ns uint64
	switch {
	case u.binary:
		if u.exp >= 64 {
			return time.Unix(offset, 0)
		}
		sec = ts >> u.exp
		if u.exp > 0 {
			// frac·10⁹ / 2^exp, in 128 bits: frac < 2^exp, so the product
			// fits and the quotient is below 10⁹.
			hi, lo := bits.Mul64(ts&(1<<u.exp-1), 1e9)
			ns = hi<<(64-u.exp) | lo>>u.exp
		}
	case u.exp <= 9:
		per := pow10(u.exp)
		sec, ns = ts/per, ts%per*pow10(9-u.exp)
	default:
		per := pow10(min(u.exp, 19))
		sec, ns = ts/per, ts%per/pow10(min(u.exp, 19)-9)
	}
	return time.Unix(int64(sec)+offset, int64(ns))
}

func pow10(n uint8) uint64 {
	p := uint64(1)
	for range n {
		p *= 10
	}
	return p
}
