package nflog

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"
)

// Fuzz targets: kernel data and capture files are untrusted input. The
// invariants: no panic, no unbounded allocation, and every slice of a
// decoded packet lies within the message it came from. Seeds are the
// records of testdata/lo-mixed.pcap plus hand-made messages; crashers found
// are kept under testdata/fuzz/ and replayed by go test.

func captureRecords(f *testing.F) [][]byte {
	r, err := OpenFile("testdata/lo-mixed.pcap", &FileConfig{DisableInterfaceNames: true})
	if err != nil {
		f.Fatal(err)
	}
	defer r.Close()
	var recs [][]byte
	for p, err := range r.All(context.Background()) {
		if err != nil {
			f.Fatal(err)
		}
		recs = append(recs, p.Raw)
	}
	return recs
}

func FuzzDecode(f *testing.F) {
	for _, rec := range captureRecords(f) {
		f.Add(rec, false)
	}
	f.Add(udpPacketBody(1, "p", 0), false)
	f.Add(body(FamilyBridge, 1, nested(uint16(AttrVLAN), attrBE16(1, 0x8100)), nested(uint16(AttrConntrack), nested(ctaTupleOrig))), true)
	var d decoder
	f.Fuzz(func(t *testing.T, b []byte, swap bool) {
		var p Packet
		if err := d.decode(b, swap, time.Time{}, &p); err != nil {
			return
		}
		for _, s := range [][]byte{p.Payload, p.HwAddr, p.HwHeader, p.L2Header, p.Conntrack.Labels} {
			if len(s) > 0 && offsetIn(s, b) < 0 {
				t.Fatalf("decoded slice lies outside the message")
			}
		}
		p.Layers()
		p.Map()
		c := p.Clone()
		if !bytes.Equal(c.Payload, p.Payload) || c.Prefix != p.Prefix {
			t.Fatal("Clone differs")
		}
		// The same message cut by a snap length: no attribute it cut is
		// reported, so each one decoded lies within what was kept.
		cut := b[:len(b)/2]
		var q Packet
		if err := d.decodeRecord(cut, len(b), swap, time.Time{}, &q); err != nil || len(cut) == len(b) {
			return
		}
		if !q.Truncated || q.OriginalLen != len(b) {
			t.Fatalf("cut packet not marked truncated")
		}
		for _, s := range [][]byte{q.Payload, q.HwAddr, q.HwHeader, q.L2Header, q.Conntrack.Labels} {
			if len(s) > 0 && offsetIn(s, cut) < 0 {
				t.Fatalf("decoded slice of a cut message lies outside what was kept")
			}
		}
		if q.Has(AttrPayload) && !p.Has(AttrPayload) {
			t.Fatalf("the cut message has a payload the whole one has not")
		}
	})
}

// FuzzConntrack targets the nested conntrack decoder alone.
func FuzzConntrack(f *testing.F) {
	f.Add(encodeAttrs(nested(ctaTupleOrig, nested(ctaTupleIP, attr(ctaIPv4Src, 1, 2, 3, 4)), nested(ctaTupleProto, attr(ctaProtoNum, 6))), attrBE32(ctaID, 9)), false)
	f.Fuzz(func(t *testing.T, b []byte, swap bool) {
		var ct Conntrack
		if decodeConntrack(b, swap, &ct) == nil {
			ct.Map()
			_ = ct.Original.String()
		}
	})
}

// FuzzDatagram drives the reader's framing and dispatch with arbitrary
// datagrams: every message is delivered, reported as an error, or skipped as
// DONE/NOOP; the reader never wedges.
func FuzzDatagram(f *testing.F) {
	recs := captureRecords(f)
	f.Add(datagram(recs...))
	f.Add(datagram(recs[0]))
	f.Add(appendNlmsg(nil, nlmsgError, 0, []byte{0xff, 0xff, 0xff, 0xff}))
	f.Fuzz(func(t *testing.T, d []byte) {
		r := newReader(newFakeSource(true, d), []int{1}, Config{OnOverrun: OverrunCount}, nil)
		defer r.Close()
		for {
			_, err := r.TryNext()
			if err == ErrWouldBlock {
				break
			}
			if err != nil && !IsTemporary(err) {
				if _, ok := err.(*OpError); !ok {
					t.Fatalf("unexpected error %v", err)
				}
			}
		}
		s := r.Stats()
		if s.Received > uint64(len(d)/nlmsgHdrLen) {
			t.Fatalf("more messages (%d) than the datagram can hold", s.Received)
		}
	})
}

// FuzzCaptureFile feeds arbitrary bytes as a capture file.
func FuzzCaptureFile(f *testing.F) {
	full, err := os.ReadFile("testdata/lo-mixed.pcap")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	f.Add(full[:200])
	// The same records as pcapng, modified pcap and cut by a snap length.
	c, err := newCaptureReader(bytes.NewReader(full), 239)
	if err != nil {
		f.Fatal(err)
	}
	ng := newNgFile(hostOrder).iface(239, "nflog", 9).iface(1, "lo", 0)
	var recs []pcapRec
	for {
		rec, err := c.next()
		if err != nil {
			break
		}
		r := pcapRec{data: append([]byte(nil), rec.data...), capLen: -1, time: rec.time}
		ng.packet(0, uint64(rec.time.UnixNano()), r).packet(1, 1, pcapRec{data: make([]byte, 14), capLen: -1})
		recs = append(recs, r)
	}
	f.Add(ng.b)
	f.Add(pcapFile(hostOrder, pcapMagicModified, 239, recs...))
	for i := range recs {
		recs[i].capLen = 40
	}
	f.Add(pcapFile(hostOrder, pcapMagicNanos, 239, recs...))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewFileReader(bytes.NewReader(b), &FileConfig{DisableInterfaceNames: true})
		if err != nil {
			return
		}
		defer r.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for n := 0; n < 100000; n++ {
			if _, err := r.Next(ctx); err != nil && !IsTemporary(err) {
				return
			}
		}
		t.Fatal("no end after 100000 records")
	})
}
