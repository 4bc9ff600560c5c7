package nflog

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Real captures cut at every byte and at every snap length: no panic, every
// complete record decodes as in the whole file, and the cut is reported.
// The captures are testdata/lo-mixed.pcap and the plugin's test cases, each
// also rewritten as pcapng.

// realCaptures returns the repository's captures by name, and their pcapng
// rewrites.
func realCaptures(t *testing.T) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob("../plugins/inputs/nflog/testcases/*/*.pcap")
	require.NoError(t, err)
	// Not the case whose capture is cut short on purpose.
	paths = slices.DeleteFunc(paths, func(p string) bool { return strings.Contains(p, "/truncated_capture/") })
	paths = append(paths, "testdata/lo-mixed.pcap")
	require.Greater(t, len(paths), 10, "the plugin's test cases hold captures")
	files := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		files[p] = b
		ng := newNgFile(hostOrder).iface(239, "nflog", 9)
		for _, r := range wholeRecords(t, b) {
			ng.packet(0, uint64(r.time.UnixNano()), pcapRec{data: r.data, capLen: -1, orig: r.origLen})
		}
		files[p+" as pcapng"] = ng.b
	}
	return files
}

// wholeRecords returns a file's records, with their data copied.
func wholeRecords(t *testing.T, b []byte) []captureRecord {
	t.Helper()
	c, err := newCaptureReader(bytes.NewReader(b), 239)
	require.NoError(t, err)
	var recs []captureRecord
	for {
		r, err := c.next()
		if errors.Is(err, io.EOF) {
			return recs
		}
		require.NoError(t, err)
		r.data = append([]byte(nil), r.data...)
		recs = append(recs, r)
	}
}

// result is what a read gave in a record's place: a packet or an error.
type result struct {
	p   Packet
	err string
}

func results(t *testing.T, b []byte) ([]result, error, Stats) {
	t.Helper()
	r, err := NewFileReader(bytes.NewReader(b), &FileConfig{DisableInterfaceNames: true})
	if err != nil {
		return nil, err, Stats{}
	}
	defer r.Close()
	var rs []result
	for {
		p, err := r.Next(context.Background())
		switch {
		case err == nil:
			rs = append(rs, result{p: p})
		case errors.Is(err, io.EOF):
			return rs, nil, r.Stats()
		case IsTemporary(err):
			rs = append(rs, result{err: err.Error()})
		default:
			return rs, err, r.Stats()
		}
	}
}

func TestCaptureCutAtEveryByte(t *testing.T) {
	for name, file := range realCaptures(t) {
		t.Run(name, func(t *testing.T) {
			whole, err, _ := results(t, file)
			require.NoError(t, err)
			recs := wholeRecords(t, file)
			require.Len(t, whole, len(recs))
			// Where each unit of the file ends: the file header (with, in
			// pcapng, each block before the first record), then every record.
			ends := map[int]bool{}
			if len(recs) > 0 {
				for off := range blockEnds(t, file, int(recs[0].offset)) {
					ends[off] = true
				}
			}
			for i := range recs {
				end := len(file)
				if i+1 < len(recs) {
					end = int(recs[i+1].offset)
				}
				ends[end] = true
			}
			for k := 0; k <= len(file); k++ {
				got, err, _ := results(t, file[:k])
				complete := 0
				for i := range recs {
					end := len(file)
					if i+1 < len(recs) {
						end = int(recs[i+1].offset)
					}
					if end <= k {
						complete = i + 1
					}
				}
				switch {
				case k == 0:
					require.ErrorContains(t, err, "the file is empty", "cut at %d", k)
					continue
				case ends[k]:
					if err != nil {
						require.ErrorContains(t, err, "no interface description block", "cut at %d, a boundary", k)
						continue
					}
				default:
					require.ErrorIs(t, err, ErrTruncated, "cut at %d", k)
					if len(recs) > 0 && k > int(recs[0].offset) {
						// Within the records: it names the one cut.
						var ce *CaptureError
						require.ErrorAs(t, err, &ce, "cut at %d", k)
						require.Equal(t, complete+1, ce.Record, "cut at %d", k)
						require.Equal(t, recs[complete].offset, ce.Offset, "cut at %d", k)
					}
				}
				require.Len(t, got, complete, "cut at %d: every complete record", k)
				for i := range got {
					require.Equal(t, whole[i], got[i], "cut at %d, record %d", k, i+1)
				}
			}
		})
	}
}

// blockEnds returns the offsets at which the blocks before the first record
// end (the pcap file header; the pcapng section header and interface
// blocks).
func blockEnds(t *testing.T, file []byte, first int) map[int]bool {
	t.Helper()
	ends := map[int]bool{}
	if !bytes.HasPrefix(file, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		ends[24] = true
		return ends
	}
	for off := 0; off < first; {
		total := int(hostOrder.Uint32(file[off+4:]))
		off += total
		ends[off] = true
	}
	return ends
}

func TestCaptureSnaplenEveryLength(t *testing.T) {
	for name, file := range realCaptures(t) {
		t.Run(name, func(t *testing.T) {
			whole, err, _ := results(t, file)
			require.NoError(t, err)
			recs := wholeRecords(t, file)
			longest := 0
			for _, r := range recs {
				longest = max(longest, len(r.data))
			}
			for snap := 0; snap <= longest; snap++ {
				cut := pcapFile(hostOrder, pcapMagicNanos, 239)
				for _, r := range recs {
					cut = append(cut, pcapFile(hostOrder, pcapMagicNanos, 239, pcapRec{data: r.data, capLen: snap, time: r.time, orig: r.origLen})[24:]...)
				}
				got, err, st := results(t, cut)
				require.NoError(t, err, "snap length %d", snap)
				require.Len(t, got, len(recs), "snap length %d: one result per record", snap)
				truncated := 0
				for i, r := range recs {
					g, w := got[i], whole[i]
					switch {
					case len(r.data) <= snap:
						require.Equal(t, w, g, "snap length %d, record %d: whole", snap, i+1)
						if g.p.Truncated { // cut in the capture already
							truncated++
						}
						continue
					case snap < nfgenmsgLen:
						require.Contains(t, g.err, "inside the 4-byte nfgenmsg header", "snap length %d, record %d", snap, i+1)
						continue
					case w.err != "":
						// What made it undecodable may be cut away: then it
						// is a truncated packet.
						if g.err == "" {
							require.True(t, g.p.Truncated)
							truncated++
						}
						continue
					}
					require.Empty(t, g.err, "snap length %d, record %d", snap, i+1)
					require.True(t, g.p.Truncated, "snap length %d, record %d", snap, i+1)
					require.Equal(t, r.origLen, g.p.OriginalLen)
					truncated++
					// The attributes wholly within the cut, decoded from a
					// message that ends after them, are what the cut record
					// holds; the rest are absent.
					prefix, cutTypes := completeAttrs(r.data[:snap], r.data, r.little != hostLittle)
					var d decoder
					var want Packet
					require.NoError(t, d.decode(prefix, r.little != hostLittle, r.time, &want))
					want.Truncated, want.OriginalLen, want.Raw = true, r.origLen, g.p.Raw
					require.Equal(t, want, g.p, "snap length %d, record %d", snap, i+1)
					for _, a := range cutTypes {
						require.False(t, g.p.Has(a), "snap length %d, record %d: attribute %s was cut", snap, i+1, a)
					}
				}
				require.Equal(t, uint64(truncated), st.Truncated, "snap length %d", snap)
			}
		})
	}
}

// completeAttrs returns the part of a message up to the end of its last
// attribute wholly within cut, and the types of the attributes of whole
// that the cut runs into or leaves out.
func completeAttrs(cut, whole []byte, swap bool) ([]byte, []Attr) {
	end := nfgenmsgLen
	var lost []Attr
	it := tlvIter{b: whole[nfgenmsgLen:], swap: swap}
	off := nfgenmsgLen
	for it.next() {
		l := nlaHdrLen + len(it.val)
		if off+l <= len(cut) {
			end = off + l
		} else {
			lost = append(lost, Attr(it.typ))
		}
		off += nlaAlign(l)
	}
	return cut[:end:end], lost
}
