package nflog

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fixtureWant is what lo-mixed.pcap holds (see testdata/README.md).
type fixtureWant struct {
	prefix   string
	family   Family
	hook     Hook
	mark     uint32
	uid      int // -1: absent
	gid      int
	kernelTS bool
	payload  int
	length   int
	proto    uint8
	src      string
	dport    int // -1: not checked (ephemeral)
	icmpType int // -1: not ICMP
	tcpFlags uint8
	hwType   uint16
}

var loMixed = []fixtureWant{
	{"out", FamilyIPv4, HookOutput, 0, 1234, 5678, false, 80, 80, 17, "127.0.0.1", 9, -1, 0, 0},
	{"in udp", FamilyIPv4, HookInput, 0, -1, -1, true, 48, 80, 17, "127.0.0.1", 9, -1, 0, 772},
	{"out", FamilyIPv4, HookOutput, 0, -1, -1, false, 108, 108, 1, "127.0.0.1", -1, 3, 0, 0},
	{"in icmp", FamilyIPv4, HookInput, 42, -1, -1, true, 108, 108, 1, "127.0.0.1", -1, 3, 0, 772},
	{"out6", FamilyIPv6, HookOutput, 0, 0, 0, false, 50, 50, 17, "::1", 9, -1, 0, 0},
	{"out", FamilyIPv4, HookOutput, 0, 0, 0, false, 60, 60, 6, "127.0.0.1", 1, -1, 0x02, 0},
	{"out", FamilyIPv4, HookOutput, 0, -1, -1, false, 40, 40, 6, "127.0.0.1", -1, -1, 0x14, 0},
}

func checkLoMixed(t *testing.T, r *Reader) {
	t.Helper()
	i := 0
	for p, err := range r.All(context.Background()) {
		require.NoError(t, err)
		require.Less(t, i, len(loMixed))
		w := loMixed[i]
		require.Equal(t, w.prefix, p.Prefix, "record %d", i)
		require.Equal(t, w.family, p.Family, "record %d", i)
		require.Equal(t, uint16(5), p.Group)
		require.Equal(t, w.hook, p.Hook, "record %d", i)
		require.Equal(t, w.mark, p.Mark, "record %d", i)
		require.Equal(t, w.mark != 0, p.Has(AttrMark))
		require.Equal(t, w.uid >= 0, p.Has(AttrUID), "record %d uid presence", i)
		if w.uid >= 0 {
			require.Equal(t, uint32(w.uid), p.UID)
			require.Equal(t, uint32(w.gid), p.GID)
		}
		require.Equal(t, w.kernelTS, p.Has(AttrTimestamp), "record %d", i)
		require.Greater(t, p.Timestamp.Year(), 2025)
		require.Len(t, p.Payload, w.payload, "record %d", i)
		require.Equal(t, w.hwType, p.HwType)
		if w.hwType == 772 { // loopback at INPUT
			require.Equal(t, []byte{0, 0, 0, 0, 0, 0}, p.HwAddr)
			require.Len(t, p.HwHeader, 14)
		}
		l, ok := p.Layers()
		require.True(t, ok)
		require.Equal(t, w.length, l.Length, "record %d: real length survives the copy range", i)
		require.Equal(t, w.proto, l.Protocol)
		require.Equal(t, netip.MustParseAddr(w.src), l.Src)
		if w.dport >= 0 {
			require.Equal(t, uint16(w.dport), l.DstPort)
		}
		require.Equal(t, w.icmpType >= 0, l.HasICMP)
		if w.icmpType >= 0 {
			require.Equal(t, uint8(w.icmpType), l.ICMPType)
		}
		require.Equal(t, w.tcpFlags, l.TCPFlags)
		i++
	}
	require.Equal(t, len(loMixed), i)
}

func TestReadCapture(t *testing.T) {
	r, err := OpenFile("testdata/lo-mixed.pcap", &FileConfig{DisableInterfaceNames: true})
	require.NoError(t, err)
	defer r.Close()
	checkLoMixed(t, r)
	_, err = r.Next(context.Background())
	require.ErrorIs(t, err, io.EOF)
}

// Writing what was read gives a file that reads the same, in pcap and in
// pcapng, and a big-endian host's capture reads the same too.
func TestCaptureRoundTrips(t *testing.T) {
	read := func(t *testing.T) []Packet {
		r, err := OpenFile("testdata/lo-mixed.pcap", &FileConfig{DisableInterfaceNames: true})
		require.NoError(t, err)
		defer r.Close()
		var ps []Packet
		for p, err := range r.All(context.Background()) {
			require.NoError(t, err)
			ps = append(ps, p)
		}
		return ps
	}
	packets := read(t)
	for _, format := range []string{"pcap", "pcapng"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			newWriter := NewPcapWriter
			if format == "pcapng" {
				newWriter = NewPcapngWriter
			}
			w, err := newWriter(&buf)
			require.NoError(t, err)
			for i := range packets {
				require.NoError(t, w.WritePacket(&packets[i]))
			}
			require.NoError(t, w.Flush())
			r, err := NewFileReader(&buf, &FileConfig{DisableInterfaceNames: true})
			require.NoError(t, err)
			checkLoMixed(t, r)
		})
	}
	t.Run("big-endian pcap", func(t *testing.T) {
		be := bigEndianCapture(t, packets)
		r, err := NewFileReader(bytes.NewReader(be), &FileConfig{DisableInterfaceNames: true})
		require.NoError(t, err)
		checkLoMixed(t, r)
		// And writing a packet read in the other order converts it back.
		r, err = NewFileReader(bytes.NewReader(be), &FileConfig{DisableInterfaceNames: true})
		require.NoError(t, err)
		var buf bytes.Buffer
		w, err := NewPcapWriter(&buf)
		require.NoError(t, err)
		for p, err := range r.All(context.Background()) {
			require.NoError(t, err)
			require.NoError(t, w.WritePacket(&p))
		}
		require.NoError(t, w.Flush())
		r, err = NewFileReader(&buf, &FileConfig{DisableInterfaceNames: true})
		require.NoError(t, err)
		checkLoMixed(t, r)
	})
}

// bigEndianCapture writes packets as a big-endian host's libpcap would: the
// file header, record headers and attribute headers big-endian.
func bigEndianCapture(t *testing.T, packets []Packet) []byte {
	be := binary.BigEndian
	var b []byte
	b = be.AppendUint32(b, 0xa1b2c3d4)
	b = be.AppendUint16(b, 2)
	b = be.AppendUint16(b, 4)
	b = be.AppendUint32(b, 0)
	b = be.AppendUint32(b, 0)
	b = be.AppendUint32(b, 65535)
	b = be.AppendUint32(b, 239)
	for _, p := range packets {
		rec := append([]byte(nil), p.Raw...)
		swapTLVHeaders(rec[nfgenmsgLen:], false, 0) // host (little) to big
		b = be.AppendUint32(b, uint32(p.Timestamp.Unix()))
		b = be.AppendUint32(b, uint32(p.Timestamp.Nanosecond()/1000))
		b = be.AppendUint32(b, uint32(len(rec)))
		b = be.AppendUint32(b, uint32(len(rec)))
		b = append(b, rec...)
	}
	return b
}

func TestOpenFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return p
	}
	_, err := OpenFile(write("junk", []byte("this is not a capture file")), nil)
	require.ErrorContains(t, err, "not a pcap or pcapng file")

	var eth bytes.Buffer
	hdr := binary.LittleEndian.AppendUint32(nil, 0xa1b2c3d4)
	hdr = binary.LittleEndian.AppendUint16(hdr, 2)
	hdr = binary.LittleEndian.AppendUint16(hdr, 4)
	hdr = append(hdr, make([]byte, 8)...)
	hdr = binary.LittleEndian.AppendUint32(hdr, 65535)
	hdr = binary.LittleEndian.AppendUint32(hdr, 1) // Ethernet
	eth.Write(hdr)
	_, err = OpenFile(write("eth.pcap", eth.Bytes()), nil)
	require.ErrorContains(t, err, "link type 1 is not NFLOG (239): capture with tcpdump -i nflog:GROUP")

	_, err = OpenFile(filepath.Join(dir, "missing.pcap"), nil)
	require.ErrorIs(t, err, os.ErrNotExist)

	// A record cut short at the end of the file: the records before it are
	// read, then the cut is reported with where it is (tcpdump: "truncated
	// dump file; tried to read 72 captured bytes, only got 62").
	full, err := os.ReadFile("testdata/lo-mixed.pcap")
	require.NoError(t, err)
	cut := write("cut.pcap", full[:len(full)-10])
	r, err := OpenFile(cut, &FileConfig{DisableInterfaceNames: true})
	require.NoError(t, err)
	n := 0
	var last error
	for _, err := range r.All(context.Background()) {
		if err != nil {
			last = err
			break
		}
		n++
	}
	require.Equal(t, len(loMixed)-1, n)
	require.ErrorIs(t, last, ErrTruncated)
	require.EqualError(t, last, "nflog: "+cut+": record 7 at byte offset 980: capture file is truncated: the file ends 78 bytes into "+
		"the record (header and 72 captured bytes), which is 88 bytes long (tcpdump was stopped while writing, or the copy is incomplete); the records before it were read")
}

func TestWriterNeedsRawMessage(t *testing.T) {
	w, err := NewPcapWriter(io.Discard)
	require.NoError(t, err)
	require.ErrorContains(t, w.WritePacket(&Packet{Prefix: "hand-made"}), "no raw message")
}

func TestCaptureTimestampFallsBackToRecordTime(t *testing.T) {
	r, err := OpenFile("testdata/lo-mixed.pcap", &FileConfig{DisableInterfaceNames: true})
	require.NoError(t, err)
	p, err := r.Next(context.Background())
	require.NoError(t, err)
	require.False(t, p.Has(AttrTimestamp))
	require.WithinDuration(t, time.Unix(1795707358, 756048000), p.Timestamp, time.Millisecond)
}

// Close unblocks a read waiting for the next record of a capture arriving
// through a pipe (found in review: close waited for the read's lock).
func TestCloseUnblocksCaptureRead(t *testing.T) {
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pw.Close()
	full, err := os.ReadFile("testdata/lo-mixed.pcap")
	require.NoError(t, err)
	_, err = pw.Write(full[:24]) // the file header only
	require.NoError(t, err)
	r, err := newFileReader(pr, pr, "", &FileConfig{DisableInterfaceNames: true})
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		_, err := r.Next(context.Background())
		errc <- err
	}()
	// The read is inside the file once it holds the file's lock.
	src := r.src.(*fileSource)
	require.Eventually(t, func() bool {
		if src.mu.TryLock() {
			src.mu.Unlock()
			return false
		}
		return true
	}, 10*time.Second, time.Millisecond, "the read never reached the file")
	closed := make(chan struct{})
	go func() { r.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(time.Second):
		t.Fatal("Close blocked behind a read of the capture")
	}
	select {
	case err := <-errc:
		require.Error(t, err)
	case <-time.After(time.Second):
		t.Fatal("the blocked read did not return after Close")
	}
}
