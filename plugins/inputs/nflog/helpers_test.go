//go:build linux

package nflog

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nflogr/telegraf-nflog/nflog"
)

// The helpers below build NFLOG messages by hand, as the kernel sends them
// (nfgenmsg, then attributes with host-order headers and big-endian
// values; see include/uapi/linux/netfilter/nfnetlink_log.h), and turn them into real
// nflog.Packets by writing them to an in-memory capture that the library's
// file reader decodes: Packet.Has depends on state that only the decoder
// sets.

type attr struct {
	typ nflog.Attr
	val []byte
}

// message is one NFLOG message body with the capture record's time (used
// when the message has no NFULA_TIMESTAMP).
type message struct {
	raw  []byte
	time time.Time
}

func msg(family nflog.Family, group uint16, recorded time.Time, attrs ...attr) message {
	b := []byte{byte(family), 0, 0, 0}
	binary.BigEndian.PutUint16(b[2:], group)
	for _, a := range attrs {
		l := 4 + len(a.val)
		hdr := make([]byte, 4)
		binary.NativeEndian.PutUint16(hdr[0:], uint16(l))
		binary.NativeEndian.PutUint16(hdr[2:], uint16(a.typ))
		b = append(b, hdr...)
		b = append(b, a.val...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	return message{raw: b, time: recorded}
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func hdrAttr(etherType uint16, hook nflog.Hook) attr {
	return attr{nflog.AttrPacketHdr, append(be16(etherType), byte(hook), 0)}
}

func tsAttr(t time.Time) attr {
	v := binary.BigEndian.AppendUint64(nil, uint64(t.Unix()))
	v = binary.BigEndian.AppendUint64(v, uint64(t.Nanosecond()/1000))
	return attr{nflog.AttrTimestamp, v}
}

func u32Attr(typ nflog.Attr, v uint32) attr { return attr{typ, be32(v)} }

func prefixAttr(s string) attr { return attr{nflog.AttrPrefix, append([]byte(s), 0)} }

func payloadAttr(p []byte) attr { return attr{nflog.AttrPayload, p} }

// ipv4 returns an IPv4 header with the given total length and protocol,
// followed by transport.
func ipv4(src, dst string, proto uint8, totalLen int, transport []byte) []byte {
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(totalLen))
	h[8] = 64
	h[9] = proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	return append(h, transport...)
}

// ipv6 returns an IPv6 header with the given payload length and next
// header, followed by transport.
func ipv6(src, dst string, next uint8, payloadLen int, transport []byte) []byte {
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(payloadLen))
	h[6] = next
	h[7] = 255
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return append(h, transport...)
}

func udp(sport, dport uint16, payloadLen int) []byte {
	h := make([]byte, 8)
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint16(h[4:], uint16(8+payloadLen))
	return append(h, make([]byte, payloadLen)...)
}

func icmp(typ, code uint8) []byte {
	return []byte{typ, code, 0, 0, 0, 0, 0, 0}
}

// capture writes the messages to an in-memory pcap file, as tcpdump -i
// nflog:N -w would.
func capture(t *testing.T, msgs ...message) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := nflog.NewPcapWriter(&buf)
	require.NoError(t, err)
	for _, m := range msgs {
		p := nflog.Packet{Raw: m.raw, Timestamp: m.time}
		require.NoError(t, w.WritePacket(&p))
	}
	require.NoError(t, w.Flush())
	return buf.Bytes()
}

// fromCapture makes the plugin read the capture instead of the kernel.
func fromCapture(n *NFLOG, data []byte) {
	n.open = func() (*nflog.Reader, error) {
		return nflog.NewFileReader(bytes.NewReader(data), nil)
	}
	n.replay = "memory"
}
