//go:build linux

package nflog

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/require"
)

// derivedCaptures are the captures of testcases/ made from the recorded
// lo_mixed/lo-mixed.pcap as other tools and accidents leave captures, by
// path: cut short (a tcpdump stopped while writing), cut to a snap length
// of 100 bytes (tcpdump -s 100), and interleaved with a loopback
// interface's Ethernet frames in one pcapng file (dumpcap -i nflog:5 -i lo).
func derivedCaptures(t *testing.T) map[string][]byte {
	t.Helper()
	whole, err := os.ReadFile(filepath.Join("testcases", "lo_mixed", "lo-mixed.pcap"))
	require.NoError(t, err)
	r, err := pcapgo.NewReader(bytes.NewReader(whole))
	require.NoError(t, err)
	type record struct {
		ci   gopacket.CaptureInfo
		data []byte
	}
	var recs []record
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		recs = append(recs, record{ci, data})
	}

	var snap bytes.Buffer
	w := pcapgo.NewWriter(&snap)
	require.NoError(t, w.WriteFileHeader(100, 239))
	for _, rc := range recs {
		ci := rc.ci
		ci.CaptureLength = min(100, len(rc.data))
		require.NoError(t, w.WritePacket(ci, rc.data[:ci.CaptureLength]))
	}

	var mixed bytes.Buffer
	// Options fixed here, not the defaults, which name the building host's
	// architecture and OS: the file must be the same everywhere.
	nflogIf := pcapgo.NgInterface{LinkType: 239, Name: "nflog:5", OS: "linux", SnapLength: 262144, TimestampResolution: 9}
	opts := pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Hardware: "any", OS: "linux", Application: "telegraf-nflog derivedCaptures"}}
	ng, err := pcapgo.NewNgWriterInterface(&mixed, nflogIf, opts)
	require.NoError(t, err)
	loIf := nflogIf
	loIf.LinkType, loIf.Name = layers.LinkTypeEthernet, "lo"
	lo, err := ng.AddInterface(loIf)
	require.NoError(t, err)
	frame := make([]byte, 60) // an all-zero Ethernet frame: only counted
	for _, rc := range recs {
		require.NoError(t, ng.WritePacket(rc.ci, rc.data))
		ci := rc.ci
		ci.InterfaceIndex, ci.CaptureLength, ci.Length = lo, len(frame), len(frame)
		require.NoError(t, ng.WritePacket(ci, frame))
	}
	require.NoError(t, ng.Flush())

	return map[string][]byte{
		filepath.Join("testcases", "truncated_capture", "input.pcap"):  whole[:len(whole)-10],
		filepath.Join("testcases", "snaplen_cut", "input.pcap"):        snap.Bytes(),
		filepath.Join("testcases", "mixed_interfaces", "input.pcapng"): mixed.Bytes(),
	}
}

// TestDerivedCaptures fails when a derived capture no longer matches what
// derivedCaptures makes; -update rewrites them.
func TestDerivedCaptures(t *testing.T) {
	for path, data := range derivedCaptures(t) {
		requireGoldenFile(t, path, data, "what derivedCaptures makes", "TestDerivedCaptures")
	}
}
