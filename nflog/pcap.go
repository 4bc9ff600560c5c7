package nflog

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Capture files of NFLOG traffic (tcpdump -i nflog:N -w FILE) use
// LINKTYPE_NFLOG: each record is one message body (nfgenmsg and attributes),
// attribute headers in the capturing host's byte order, values as the kernel
// sent them. gopacket's pcapgo reads and writes the file framing.

// FileConfig holds the options of OpenFile and NewFileReader.
type FileConfig struct {
	// DisableInterfaceNames stops resolving interface indexes to names.
	// By default they are resolved as the replaying host knows them now,
	// which may differ from the capturing host.
	DisableInterfaceNames bool
}

// OpenFile opens a pcap or pcapng capture of LINKTYPE_NFLOG records, in
// either byte order, and returns a Reader over its packets. It needs no
// privileges. Packets without a kernel timestamp get the record's time.
// Reads return io.EOF at the end of the file; Close closes the file.
func OpenFile(path string, cfg *FileConfig) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := newFileReader(f, f, cfg)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("nflog: %s: %w", path, err)
	}
	return r, nil
}

// NewFileReader is OpenFile for an io.Reader. Closing the Reader does not
// close rd, and a read blocked in rd (a pipe) is not interrupted by Close or
// a context: make rd return, or use OpenFile.
func NewFileReader(rd io.Reader, cfg *FileConfig) (*Reader, error) {
	return newFileReader(rd, nil, cfg)
}

func newFileReader(rd io.Reader, closer io.Closer, cfg *FileConfig) (*Reader, error) {
	var c FileConfig
	if cfg != nil {
		c = *cfg
	}
	br := bufio.NewReaderSize(rd, 64<<10)
	head, err := br.Peek(12)
	if err != nil {
		return nil, fmt.Errorf("reading the file header: %w", err)
	}
	src := &fileSource{closer: closer, done: make(chan struct{})}
	var little bool
	var linkType layers.LinkType
	switch {
	case binary.LittleEndian.Uint32(head) == 0x0a0d0d0a: // pcapng section header block
		little = binary.LittleEndian.Uint32(head[8:]) == 0x1a2b3c4d
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, err
		}
		src.next, linkType = ng.ZeroCopyReadPacketData, ng.LinkType()
	case isPcapMagic(binary.LittleEndian.Uint32(head)):
		little = true
		fallthrough
	case isPcapMagic(binary.BigEndian.Uint32(head)):
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, err
		}
		src.next, linkType = pr.ZeroCopyReadPacketData, pr.LinkType()
	default:
		return nil, errors.New("not a pcap or pcapng file")
	}
	if linkType != linkTypeNFLOG {
		return nil, fmt.Errorf("link type %d is not NFLOG (239): capture with tcpdump -i nflog:GROUP -w FILE", int(linkType))
	}
	src.swap = little != hostLittle

	var names nameResolver
	if !c.DisableInterfaceNames {
		n, err := newHostInterfaceNames()
		if err != nil {
			return nil, fmt.Errorf("reading interface names: %w", err)
		}
		if n != nil {
			src.names = n
			names = n
		}
	}
	return newReader(src, nil, Config{}, names), nil
}

func isPcapMagic(m uint32) bool { return m == 0xa1b2c3d4 || m == 0xa1b23c4d }

// fileSource yields one capture record per batch.
type fileSource struct {
	notASocket
	mu     sync.Mutex // pcapgo readers are not safe for concurrent use
	next   func() ([]byte, gopacket.CaptureInfo, error)
	swap   bool
	closer io.Closer
	names  interface{ close() }
	done   chan struct{}
	once   sync.Once
}

func (s *fileSource) bufferSize() int   { return 0 }
func (s *fileSource) seqFromZero() bool { return false }

func (s *fileSource) receive(ctx context.Context, _ []byte, _ bool) (batch, error) {
	if err := ctx.Err(); err != nil {
		return batch{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return batch{}, ErrClosed
	default:
	}
	data, ci, err := s.next()
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return batch{}, io.EOF
		}
		return batch{}, &OpError{Op: "read capture", Group: -1, Err: err}
	}
	return batch{data: data, swap: s.swap, time: ci.Timestamp}, nil
}

func (s *fileSource) close() error {
	var err error
	s.once.Do(func() {
		// Not under s.mu: a receive may be blocked reading the file (a pipe),
		// and closing it is what unblocks that read.
		close(s.done)
		if s.closer != nil {
			err = s.closer.Close()
		}
		if s.names != nil {
			s.names.close()
		}
	})
	return err
}

// PcapWriter writes packets to a capture file that tcpdump, Wireshark and
// OpenFile read (LINKTYPE_NFLOG). It is safe for concurrent use.
type PcapWriter struct {
	mu      sync.Mutex
	write   func(gopacket.CaptureInfo, []byte) error
	flush   func() error
	scratch []byte
}

// captureSnaplen is the largest record: a 65531-byte payload plus headers.
const captureSnaplen = 262144

// NewPcapWriter writes the pcap file header to w and returns a writer of
// records. Call Flush when done.
func NewPcapWriter(w io.Writer) (*PcapWriter, error) {
	bw := bufio.NewWriter(w)
	pw := pcapgo.NewWriterNanos(bw)
	if err := pw.WriteFileHeader(captureSnaplen, linkTypeNFLOG); err != nil {
		return nil, err
	}
	return &PcapWriter{write: pw.WritePacket, flush: bw.Flush}, nil
}

// NewPcapngWriter is NewPcapWriter for the pcapng format.
func NewPcapngWriter(w io.Writer) (*PcapWriter, error) {
	intf := pcapgo.DefaultNgInterface
	intf.LinkType = linkTypeNFLOG
	intf.SnapLength = captureSnaplen
	intf.Name = "nflog"
	nw, err := pcapgo.NewNgWriterInterface(w, intf, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		return nil, err
	}
	return &PcapWriter{write: nw.WritePacket, flush: nw.Flush}, nil
}

// WritePacket writes p's message (p.Raw) as one record stamped with
// p.Timestamp. Both writers produce little-endian files, so attribute
// headers are converted when p was read in the other order.
func (w *PcapWriter) WritePacket(p *Packet) error {
	if len(p.Raw) < nfgenmsgLen {
		return errors.New("nflog: packet has no raw message to write (it was not read from the kernel or a file)")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	data := p.Raw
	rawLittle := hostLittle != p.swapped
	if !rawLittle {
		w.scratch = append(w.scratch[:0], p.Raw...)
		swapTLVHeaders(w.scratch[nfgenmsgLen:], p.swapped, 0)
		data = w.scratch
	}
	ts := p.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	return w.write(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}, data)
}

// Flush writes buffered records to the underlying writer.
func (w *PcapWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flush()
}

var hostLittle = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// linkTypeNFLOG is LINKTYPE_NFLOG, which gopacket's layers does not name.
const linkTypeNFLOG layers.LinkType = 239
