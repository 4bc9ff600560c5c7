package nflog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nflogr/telegraf-nflog/testutil"
)

// tcpdump (libpcap) reads the same files: as many records, the same
// truncation, the modified format, every interface of a mixed pcapng file.
// Needs no privileges; fails in CI without tcpdump.

// tcpdumpRead runs tcpdump -r on b and returns its packet lines and its
// standard error.
func tcpdumpRead(t *testing.T, b []byte) (int, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	var out, errb bytes.Buffer
	cmd := exec.Command("tcpdump", "-n", "-r", path)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running tcpdump: %v", err)
	}
	lines := strings.Count(out.String(), "\n")
	return lines, errb.String()
}

func TestCaptureAsTcpdumpReadsIt(t *testing.T) {
	testutil.RequireTools(t, "tcpdump")
	file, err := os.ReadFile("testdata/lo-mixed.pcap")
	require.NoError(t, err)
	recs := wholeRecords(t, file)
	whole, err, _ := results(t, file)
	require.NoError(t, err)

	t.Run("cut short", func(t *testing.T) {
		var cuts []int
		for _, r := range recs {
			for _, d := range []int{-1, 0, 1, 10, 16, 17} {
				if k := int(r.offset) + d; k > 24 && k < len(file) {
					cuts = append(cuts, k)
				}
			}
		}
		for _, k := range cuts {
			ours, err, _ := results(t, file[:k])
			lines, stderr := tcpdumpRead(t, file[:k])
			require.Equal(t, lines, len(ours), "cut at %d: tcpdump read %d records, we %d", k, lines, len(ours))
			require.Equal(t, strings.Contains(stderr, "truncated dump file"), errors.Is(err, ErrTruncated),
				"cut at %d: tcpdump says %q, we %v", k, stderr, err)
		}
	})
	t.Run("snap lengths", func(t *testing.T) {
		for _, snap := range []int{4, 8, 20, 40, 64, 100, 150} {
			cut := pcapFile(hostOrder, pcapMagicNanos, 239)
			for _, r := range recs {
				cut = append(cut, pcapFile(hostOrder, pcapMagicNanos, 239, pcapRec{data: r.data, capLen: snap, time: r.time})[24:]...)
			}
			ours, err, _ := results(t, cut)
			require.NoError(t, err)
			lines, stderr := tcpdumpRead(t, cut)
			require.Empty(t, stderr[strings.Index(stderr, "\n")+1:], "snap length %d", snap)
			require.Equal(t, lines, len(ours), "snap length %d", snap)
		}
	})
	t.Run("modified pcap", func(t *testing.T) {
		var other fileOrder = binary.BigEndian
		for _, order := range []fileOrder{hostOrder, other} {
			var rs []pcapRec
			for _, r := range recs {
				data := append([]byte(nil), r.data...)
				if order != hostOrder {
					swapTLVHeaders(data[nfgenmsgLen:], false, 0)
				}
				rs = append(rs, pcapRec{data: data, capLen: -1, time: r.time})
			}
			b := pcapFile(order, pcapMagicModified, 239, rs...)
			ours, err, _ := results(t, b)
			require.NoError(t, err)
			lines, stderr := tcpdumpRead(t, b)
			require.Equal(t, len(recs), lines, "tcpdump: %s", stderr)
			require.Len(t, ours, len(recs))
			for i := range ours {
				require.Equal(t, whole[i].p.Map(), ours[i].p.Map(), "record %d", i+1)
			}
		}
	})
	t.Run("mixed interfaces", func(t *testing.T) {
		ng := newNgFile(hostOrder).iface(239, "nflog:5", 0).iface(1, "lo", 0)
		eth := make([]byte, 60)
		eth[12], eth[13] = 0x08, 0x00
		for i, r := range recs {
			ng.packet(0, uint64(2*i), pcapRec{data: r.data, capLen: -1})
			ng.packet(1, uint64(2*i+1), pcapRec{data: eth, capLen: -1})
		}
		ours, err, st := results(t, ng.b)
		require.NoError(t, err)
		// libpcap 1.10 refuses a second link type in a file (Wireshark's
		// dumpcap writes such files); a libpcap that reads them reads both
		// interfaces.
		lines, stderr := tcpdumpRead(t, ng.b)
		if !strings.Contains(stderr, "different from the type of the first interface") {
			require.Equal(t, 2*len(recs), lines, "tcpdump reads both interfaces: %s", stderr)
		}
		require.Len(t, ours, len(recs)+1, "the NFLOG records and one note")
		require.Equal(t, uint64(len(recs)), st.Skipped)
		require.Equal(t, uint64(len(recs)), st.Received)
	})
}
