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
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Capture files of NFLOG traffic (tcpdump -i nflog:N -w FILE) use
// LINKTYPE_NFLOG: each record is one message body (nfgenmsg and attributes),
// attribute headers in the capturing host's byte order, values as the kernel
// sent them. capture_read.go reads the file framing, gopacket's pcapgo
// writes it.

// FileConfig holds the options of OpenFile and NewFileReader.
type FileConfig struct {
	// DisableInterfaceNames stops resolving interface indexes to names.
	// By default they are resolved as the replaying host knows them now,
	// which may differ from the capturing host.
	DisableInterfaceNames bool
}

// OpenFile opens a pcap or pcapng capture of LINKTYPE_NFLOG records, in
// either byte order (and pcap's modified format), and returns a Reader over
// its packets. It needs no privileges. Packets without a kernel timestamp
// get the record's time.
//
// Reads return io.EOF at the end of the file, or a *CaptureError wrapping
// ErrTruncated when the file ends inside a record, after every complete
// record. A record that the capture's snap length cut is decoded as far as
// its attributes are whole and marked Packet.Truncated (Stats.Truncated).
// The packets of a pcapng file's interfaces that are not NFLOG are skipped
// and counted (Stats.Skipped), and the first of them is reported once with
// an ErrSkipped error. Close closes the file.
func OpenFile(path string, cfg *FileConfig) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := newFileReader(f, f, path, cfg)
	if err != nil {
		f.Close()
		var ce *CaptureError
		if errors.As(err, &ce) {
			return nil, err // it names the file
		}
		return nil, fmt.Errorf("nflog: %s: %w", path, err)
	}
	return r, nil
}

// NewFileReader is OpenFile for an io.Reader. Closing the Reader does not
// close rd, and a read blocked in rd (a pipe) is not interrupted by Close or
// a context: make rd return, or use OpenFile.
func NewFileReader(rd io.Reader, cfg *FileConfig) (*Reader, error) {
	return newFileReader(rd, nil, "", cfg)
}

func newFileReader(rd io.Reader, closer io.Closer, path string, cfg *FileConfig) (*Reader, error) {
	var c FileConfig
	if cfg != nil {
		c = *cfg
	}
	cr, err := newCaptureReader(rd, uint32(linkTypeNFLOG))
	if err != nil {
		var ce *CaptureError
		if errors.As(err, &ce) {
			ce.File = path
		}
		return nil, err
	}
	if !cr.ng && cr.linkType != uint32(linkTypeNFLOG) {
		return nil, &linkTypeError{linkType: cr.linkType}
	}
	src := &fileSource{file: cr, path: path, closer: closer, done: make(chan struct{})}

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

// fileSource yields one capture record per batch.
type fileSource struct {
	notASocket
	mu      sync.Mutex // guards file, ended and warned
	file    *captureReader
	path    string
	ended   bool // the file ended or failed: reads return io.EOF
	warned  bool // ErrSkipped was returned
	skipped atomic.Uint64
	closer  io.Closer
	names   interface{ close() }
	done    chan struct{}
	once    sync.Once
}

func (s *fileSource) bufferSize() int   { return 0 }
func (s *fileSource) seqFromZero() bool { return false }

func (s *fileSource) receive(ctx context.Context, _ []byte, _ bool) (batch, error) {
	if err := ctx.Err(); err != nil {
		return batch{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		select {
		case <-s.done:
			return batch{}, ErrClosed
		default:
		}
		if s.ended {
			return batch{}, io.EOF
		}
		rec, err := s.file.next()
		if err != nil {
			// The end, a truncation or a damaged file: each ends the
			// stream, and is said once.
			s.ended = true
			var ce *CaptureError
			if errors.As(err, &ce) {
				ce.File = s.path
			}
			return batch{}, err
		}
		if rec.linkType != uint32(linkTypeNFLOG) {
			s.skipped.Add(1)
			if !s.warned {
				s.warned = true
				name := ""
				if rec.ifName != "" {
					name = fmt.Sprintf(" (%q)", rec.ifName)
				}
				return batch{}, &CaptureError{File: s.path, Record: rec.record, Offset: rec.offset, Err: fmt.Errorf(
					"%w: interface %d%s has link type %d, not NFLOG (239); its packets, and those of any other such interface, are skipped and counted (Stats.Skipped), the NFLOG ones read",
					ErrSkipped, rec.iface, name, rec.linkType)}
			}
			continue
		}
		b := batch{data: rec.data, swap: rec.little != hostLittle, time: rec.time}
		if rec.origLen > len(rec.data) {
			b.origLen = rec.origLen
		}
		return b, nil
	}
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
	// A truncated packet keeps its original length: the file says it was cut.
	return w.write(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: max(len(data), p.OriginalLen)}, data)
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
