package nflog

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Capture files as other tools and accidents leave them: cut short, cut by
// the snap length, of several interfaces, compressed, empty, in the
// modified format. Byte fixtures from capture_fixtures_test.go.

var hostOrder fileOrder = binary.LittleEndian

func init() {
	if !hostLittle {
		hostOrder = binary.BigEndian
	}
}

// readAll reads every packet and error of a capture until the stream ends
// (io.EOF, returned as nil) or a final error (returned).
func readAll(t *testing.T, b []byte) ([]Packet, []error, error) {
	t.Helper()
	r, err := NewFileReader(bytes.NewReader(b), &FileConfig{DisableInterfaceNames: true})
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	var ps []Packet
	var temp []error
	for {
		p, err := r.Next(context.Background())
		switch {
		case err == nil:
			ps = append(ps, p)
		case errors.Is(err, io.EOF):
			return ps, temp, nil
		case IsTemporary(err):
			temp = append(temp, err)
		default:
			// The stream stays ended.
			_, again := r.Next(context.Background())
			require.ErrorIs(t, again, io.EOF, "after a final error")
			return ps, temp, err
		}
	}
}

func TestCaptureCutShort(t *testing.T) {
	a, b2 := udpPacketBody(5, "one", 1), udpPacketBody(5, "two", 2)
	file := pcapFile(hostOrder, pcapMagicMicros, 239, rec(a), rec(b2))
	second := int64(24 + 16 + len(a))

	for _, c := range []struct {
		name string
		cut  int
		want string
	}{
		{"inside the second record's header", int(second) + 7, "the file ends 7 bytes into the 16-byte record header"},
		{"after the second record's header", int(second) + 16, "the file ends 16 bytes into the record"},
		{"inside the second record's data", len(file) - 1, "the file ends " + strconv.Itoa(16+len(b2)-1) + " bytes into the record (header and " + strconv.Itoa(len(b2)) + " captured bytes), which is " + strconv.Itoa(16+len(b2)) + " bytes long"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ps, temp, err := readAll(t, file[:c.cut])
			require.Len(t, ps, 1, "the complete record is read")
			require.Equal(t, "one", ps[0].Prefix)
			require.Empty(t, temp)
			require.ErrorIs(t, err, ErrTruncated)
			var ce *CaptureError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, 2, ce.Record)
			require.Equal(t, second, ce.Offset)
			require.ErrorContains(t, err, "record 2 at byte offset "+strconv.Itoa(int(second))+": capture file is truncated: "+c.want)
		})
	}
	t.Run("at a record boundary", func(t *testing.T) {
		ps, _, err := readAll(t, file[:second])
		require.NoError(t, err, "a file that ends between records is whole")
		require.Len(t, ps, 1)
	})
	t.Run("inside the file header", func(t *testing.T) {
		_, _, err := readAll(t, file[:10])
		require.ErrorIs(t, err, ErrTruncated)
		require.ErrorContains(t, err, "the file ends inside its 24-byte pcap file header, after 10 bytes")
	})
	t.Run("pcapng inside a packet block", func(t *testing.T) {
		ng := newNgFile(hostOrder).iface(239, "nflog", 0)
		ng.packet(0, 1, rec(a))
		at := int64(len(ng.b))
		ng.packet(0, 2, rec(b2))
		ps, _, err := readAll(t, ng.b[:len(ng.b)-3])
		require.Len(t, ps, 1)
		var ce *CaptureError
		require.ErrorAs(t, err, &ce)
		require.ErrorIs(t, err, ErrTruncated)
		require.Equal(t, 2, ce.Record)
		require.Equal(t, at, ce.Offset)
		require.ErrorContains(t, err, "into the pcapng packet block")
	})
	t.Run("OpenFile names the file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "cut.pcap")
		require.NoError(t, os.WriteFile(path, file[:len(file)-1], 0o600))
		r, err := OpenFile(path, &FileConfig{DisableInterfaceNames: true})
		require.NoError(t, err)
		defer r.Close()
		_, err = r.Next(context.Background())
		require.NoError(t, err)
		_, err = r.Next(context.Background())
		var ce *CaptureError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, path, ce.File)
		require.ErrorContains(t, err, "nflog: "+path+": record 2 at byte offset")
		require.False(t, IsTemporary(err))
	})
}

// A record cut by the snap length keeps its whole attributes; the one the
// cut falls in, and those after it, are absent; the packet says it was cut.
func TestCaptureSnaplenCut(t *testing.T) {
	msg := udpPacketBody(5, "pfx", 7)
	// Attribute offsets in msg: nfgenmsg 4, packet header 8, prefix "pfx\0"
	// 8, outdev 8, seq 8, payload 4+31 (padded to 36).
	payloadAt := 4 + 8 + 8 + 8 + 8
	for _, c := range []struct {
		name    string
		capLen  int
		prefix  bool
		seq     bool
		payload bool
	}{
		{"inside the payload", payloadAt + 10, true, true, false},
		{"inside the payload's header", payloadAt + 2, true, true, false},
		{"on the boundary before the payload", payloadAt, true, true, false},
		{"inside the seq attribute", payloadAt - 2, true, false, false},
		{"inside the prefix", 4 + 8 + 5, false, false, false},
		{"after the nfgenmsg header", 4, false, false, false},
		{"inside the payload's padding", len(msg) - 1, true, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ps, temp, err := readAll(t, pcapFile(hostOrder, pcapMagicMicros, 239, cutRec(msg, c.capLen)))
			require.NoError(t, err)
			require.Empty(t, temp)
			require.Len(t, ps, 1)
			p := ps[0]
			require.True(t, p.Truncated)
			require.Equal(t, len(msg), p.OriginalLen)
			require.Len(t, p.Raw, c.capLen)
			require.Equal(t, c.prefix, p.Has(AttrPrefix))
			require.Equal(t, c.seq, p.Has(AttrSeq))
			require.Equal(t, c.payload, p.Has(AttrPayload))
			if !c.payload {
				require.Nil(t, p.Payload, "a cut attribute is never reported")
			}
			if c.prefix {
				require.Equal(t, "pfx", p.Prefix)
			}
			require.Equal(t, uint16(5), p.Group)
			require.Equal(t, time.Unix(1700000000, 5000), p.Timestamp, "the record's time stands in")
			m := p.Map()
			require.Equal(t, true, m["truncated"])
			require.Equal(t, len(msg), m["original_len"])
		})
	}
	t.Run("counted", func(t *testing.T) {
		r, err := NewFileReader(bytes.NewReader(pcapFile(hostOrder, pcapMagicMicros, 239,
			cutRec(msg, payloadAt), rec(msg), cutRec(msg, 20))), &FileConfig{DisableInterfaceNames: true})
		require.NoError(t, err)
		n := 0
		for p, err := range r.All(context.Background()) {
			require.NoError(t, err)
			require.Equal(t, n != 1, p.Truncated)
			n++
		}
		require.Equal(t, 3, n)
		require.Equal(t, uint64(2), r.Stats().Truncated)
		require.Equal(t, uint64(3), r.Stats().Received)
	})
	t.Run("inside the nfgenmsg header", func(t *testing.T) {
		ps, temp, err := readAll(t, pcapFile(hostOrder, pcapMagicMicros, 239, cutRec(msg, 3)))
		require.NoError(t, err)
		require.Empty(t, ps)
		require.Len(t, temp, 1)
		require.ErrorIs(t, temp[0], ErrMalformed)
		require.ErrorContains(t, temp[0], "snap length cut the record to 3 bytes, inside the 4-byte nfgenmsg header")
	})
	t.Run("written back, still cut", func(t *testing.T) {
		ps, _, err := readAll(t, pcapFile(hostOrder, pcapMagicMicros, 239, cutRec(msg, payloadAt)))
		require.NoError(t, err)
		var buf bytes.Buffer
		w, err := NewPcapWriter(&buf)
		require.NoError(t, err)
		require.NoError(t, w.WritePacket(&ps[0]))
		require.NoError(t, w.Flush())
		again, _, err := readAll(t, buf.Bytes())
		require.NoError(t, err)
		require.True(t, again[0].Truncated)
		require.Equal(t, len(msg), again[0].OriginalLen)
	})
	t.Run("whole records are not truncated", func(t *testing.T) {
		ps, _, err := readAll(t, pcapFile(hostOrder, pcapMagicMicros, 239, rec(msg)))
		require.NoError(t, err)
		require.False(t, ps[0].Truncated)
		require.Zero(t, ps[0].OriginalLen)
		require.NotContains(t, ps[0].Map(), "truncated")
	})
}

// A pcapng capture of several interfaces (tcpdump -i nflog:5 -i lo): the
// NFLOG interface's packets are read, the others counted and reported once.
func TestCaptureMixedInterfaces(t *testing.T) {
	eth := make([]byte, 60)
	for _, nflogFirst := range []bool{true, false} {
		name := "nflog first"
		if !nflogFirst {
			name = "lo first"
		}
		t.Run(name, func(t *testing.T) {
			ng := newNgFile(hostOrder)
			nf, lo := uint32(0), uint32(1)
			if nflogFirst {
				ng.iface(239, "nflog:5", 0).iface(1, "lo", 0)
			} else {
				ng.iface(1, "lo", 0).iface(239, "nflog:5", 0)
				nf, lo = 1, 0
			}
			ng.packet(lo, 1, rec(eth))
			ng.packet(nf, 2, rec(udpPacketBody(5, "a", 1)))
			ng.packet(lo, 3, rec(eth))
			ng.packet(nf, 4, rec(udpPacketBody(5, "b", 2)))
			ng.packet(lo, 5, rec(eth))
			r, err := NewFileReader(bytes.NewReader(ng.b), &FileConfig{DisableInterfaceNames: true})
			require.NoError(t, err)
			defer r.Close()
			var got []string
			var notes []error
			for p, err := range r.All(context.Background()) {
				if err != nil {
					notes = append(notes, err)
					continue
				}
				got = append(got, p.Prefix)
			}
			require.Equal(t, []string{"a", "b"}, got)
			require.Len(t, notes, 1, "said once")
			require.ErrorIs(t, notes[0], ErrSkipped)
			require.True(t, IsTemporary(notes[0]))
			require.ErrorContains(t, notes[0], `record 1 at byte offset`)
			require.ErrorContains(t, notes[0], `interface `+strconv.Itoa(int(lo))+` ("lo") has link type 1, not NFLOG (239)`)
			st := r.Stats()
			require.Equal(t, uint64(3), st.Skipped)
			require.Equal(t, uint64(2), st.Received)
		})
	}
	t.Run("no NFLOG interface", func(t *testing.T) {
		ng := newNgFile(hostOrder).iface(1, "eth0", 0).iface(1, "lo", 0)
		ng.packet(0, 1, rec(eth))
		_, _, err := readAll(t, ng.b)
		require.EqualError(t, err, "link type 1 (and 1 other interfaces) is not NFLOG (239): capture with tcpdump -i nflog:GROUP -w FILE")
	})
}

func TestCaptureFormatErrors(t *testing.T) {
	msg := udpPacketBody(5, "x", 1)
	for _, c := range []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "the file is empty"},
		{"gzip", gzipped(pcapFile(hostOrder, pcapMagicMicros, 239, rec(msg))), "the file is gzip-compressed: decompress it first"},
		{"pcapng without an interface", newNgFile(hostOrder).b, "the pcapng file has no interface description block"},
		{"pcapng packet before the interface", newNgFile(hostOrder).packet(0, 1, rec(msg)).b, "the pcapng file has a packet block before any interface description block"},
		{"pcapng cut in its section header", newNgFile(hostOrder).b[:9], "capture file is truncated: the file ends inside its pcapng section header block, after 9 bytes"},
		{"pcap version 1", func() []byte { b := pcapFile(hostOrder, pcapMagicMicros, 239); hostOrder.PutUint16(b[4:], 1); return b }(), "pcap version 1.4 is not supported"},
		{"junk", []byte("this is not a capture file"), "not a pcap or pcapng file (it starts with 74 68 69 73)"},
		{"pcap of Ethernet", pcapFile(hostOrder, pcapMagicMicros, 1), "link type 1 is not NFLOG (239): capture with tcpdump -i nflog:GROUP -w FILE"},
		{"damaged record length", func() []byte {
			b := pcapFile(hostOrder, pcapMagicMicros, 239, rec(msg))
			hostOrder.PutUint32(b[24+8:], 1<<30)
			return b
		}(), "record 1 at byte offset 24: malformed capture file: the record's captured length 1073741824 exceeds 262144, the most libpcap writes (the file's snap length is 65535; the file is damaged)"},
		{"damaged block trailer", func() []byte {
			ng := newNgFile(hostOrder).iface(239, "", 0).packet(0, 1, rec(msg))
			ng.b[len(ng.b)-1] ^= 0xff
			return ng.b
		}(), "says " + strconv.Itoa(12+20+nlaAlign(len(msg))) + " bytes at its start and"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := readAll(t, c.file)
			require.ErrorContains(t, err, c.want)
		})
	}
	t.Run("OpenFile of an empty file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "empty.pcap")
		require.NoError(t, os.WriteFile(path, nil, 0o600))
		_, err := OpenFile(path, nil)
		require.EqualError(t, err, "nflog: "+path+": the file is empty: a capture holds at least a file header (tcpdump -i nflog:GROUP -w FILE)")
	})
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// The same packets read the same from every framing: pcap in microseconds
// and nanoseconds, the modified format, pcapng with its timestamp
// resolutions and simple packet blocks, in both byte orders (attribute
// headers follow the file's order, as the capturing host wrote them).
func TestCaptureFramings(t *testing.T) {
	msg := udpPacketBody(5, "same", 3)
	var other fileOrder = binary.BigEndian
	if !hostLittle {
		other = binary.LittleEndian
	}
	swapped := append([]byte(nil), msg...)
	swapTLVHeaders(swapped[nfgenmsgLen:], false, 0)
	at := time.Unix(1700000000, 123456789)
	us := at.Truncate(time.Microsecond)
	r := pcapRec{data: msg, capLen: -1, time: at}
	rs := pcapRec{data: swapped, capLen: -1, time: at}
	for _, c := range []struct {
		name string
		file []byte
		time time.Time
	}{
		{"pcap", pcapFile(hostOrder, pcapMagicMicros, 239, r), us},
		{"pcap other order", pcapFile(other, pcapMagicMicros, 239, rs), us},
		{"pcap nanoseconds", pcapFile(hostOrder, pcapMagicNanos, 239, r), at},
		{"modified pcap", pcapFile(hostOrder, pcapMagicModified, 239, r), us},
		{"modified pcap other order", pcapFile(other, pcapMagicModified, 239, rs), us},
		{"pcapng", newNgFile(hostOrder).iface(239, "", 0).packet(0, uint64(us.UnixMicro()), r).b, us},
		{"pcapng other order", newNgFile(other).iface(239, "", 0).packet(0, uint64(us.UnixMicro()), rs).b, us},
		{"pcapng nanoseconds", newNgFile(hostOrder).iface(239, "", 9).packet(0, uint64(at.UnixNano()), r).b, at},
		{"pcapng 2^-30 s", newNgFile(hostOrder).iface(239, "", 0x80|30).packet(0, uint64(at.Unix())<<30|uint64(at.Nanosecond())<<30/1e9, r).b, at},
		{"pcapng simple packet", newNgFile(hostOrder).iface(239, "", 0).simplePacket(r).b, time.Time{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ps, temp, err := readAll(t, c.file)
			require.NoError(t, err)
			require.Empty(t, temp)
			require.Len(t, ps, 1)
			p := ps[0]
			require.Equal(t, "same", p.Prefix)
			require.Equal(t, uint32(3), p.Seq)
			require.Len(t, p.Payload, 31)
			require.False(t, p.Truncated)
			if c.time.IsZero() {
				require.True(t, p.Timestamp.IsZero(), "a simple packet block has no time")
			} else {
				require.WithinDuration(t, c.time, p.Timestamp, time.Nanosecond)
			}
		})
	}
}
